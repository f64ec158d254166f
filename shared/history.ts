import type { BackendInfo } from './backend.js';
import type { SearchConfig } from './dan.js';
import type { DataInfo, FailureReason, PathMetrics, RunOutputs, SearchProjection } from './events.js';
import type { ExportFormat, ExportNetwork, Precision, VerificationReport } from './export.js';
import type { Cost } from './model/cost.js';
import type { TrainConfig } from './train-config.js';

/**
 * The run history as every front end sees it (CLI `--json`, the app's
 * History screen): what the store keeps, decoded and typed.
 */

export const RUN_STATUSES = ['queued', 'running', 'finished', 'failed', 'cancelled', 'interrupted'] as const;
/**
 * `interrupted`: the process running it died (a crash, a kill, a power cut);
 * its last checkpoint is kept for resume.
 */
export type RunStatus = (typeof RUN_STATUSES)[number];

export const RUN_KINDS = ['train', 'search'] as const;
/** `train`: one network trained; `search`: a DAN search, then (optionally) adjoined training of what it found. */
export type RunKind = (typeof RUN_KINDS)[number];

/** Who is running a run: a process on a host, alive while its heartbeat is fresh. */
export interface Owner {
  pid: number | null;
  host: string | null;
  heartbeatAt: number | null;
}

/** A DAN search job: the search, how long to train what it finds, and (once done) what it found. */
export interface SearchRecord {
  config: SearchConfig;
  /** Epochs of adjoined training of the found network; null for a search alone. */
  thenTrain: number | null;
  result: SearchRecordResult | null;
  /** Per epoch: expected MACs under softmax(η/τ) against the budget. Absent in searches recorded before issue 15. */
  epochs?: SearchEpochDiagnostics[];
}

/** What a search found. The last three fields are absent in searches recorded before issue 15. */
export interface SearchRecordResult {
  /** The network trained next: the projected configuration of a budgeted search, else the argmax. */
  alphas: Record<string, number>;
  cost: { full: Cost; small: Cost };
  /** argmax η before the projection. */
  argmax?: { alphas: Record<string, number>; cost: Cost };
  projection?: SearchProjection | null;
  warnings?: string[];
}

/** A search epoch's budget figures (the group entropies follow from the stored probabilities). */
export interface SearchEpochDiagnostics {
  epoch: number;
  tau: number;
  expectedMacs: number;
  /** null in the paper's mode. */
  target: number | null;
  penalty: number;
}

/** A dataset as a job describes it for the history's datasets table. */
export interface DatasetInput {
  /** Where it was read from: a folder, an IDX directory or a `synthetic:…` spec. */
  path: string;
  /** A hash of the decoded content: the same images give the same key wherever they live. */
  contentKey: string;
  name: string;
  /** Classes, counts, image size, channels… (JSON). */
  summary: Record<string, unknown>;
  /** How the images were divided into training and validation (JSON). */
  split: Record<string, unknown>;
}

export interface RunRecord {
  /** Integer ids, never reused (AUTOINCREMENT): a run folder named after one stays unique. */
  id: number;
  kind: RunKind;
  datasetId: number | null;
  /**
   * The network this run trains. For a search: the super-network (its small
   * path at the widest candidate) until the search ends, then the found
   * architecture that the run trains adjoinedly.
   */
  config: TrainConfig;
  search: SearchRecord | null;
  seed: number;
  status: RunStatus;
  failureReason: FailureReason | null;
  error: string | null;
  /** The compute backend (`gpu`, `webgpu`, `node`, `wasm`, `cpu`) and the device sentence the engine reported. */
  backend: string | null;
  device: string | null;
  /** All the engine reported of its backend, with why each faster one was not used (null: not started, or recorded by an older version). */
  backendInfo: BackendInfo | null;
  outDir: string | null;
  checkpointPath: string | null;
  data: DataInfo | null;
  cost: { full: Cost; small: Cost | null } | null;
  totalSteps: number | null;
  epochsDone: number;
  val: { full: PathMetrics | null; small: PathMetrics | null };
  confusion: number[][] | null;
  outputs: RunOutputs | null;
  /** Milliseconds since the Unix epoch. */
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  trainSeconds: number | null;
  owner: Owner;
  /** The queue worker that trains (or trained) it; null for a run on the machine that keeps the history. */
  worker: { name: string; host: string } | null;
}

export interface EpochMetrics {
  epoch: number;
  trainLoss: number;
  /** null where the run has no such network (the full one of a small or kd run). */
  trainAccuracy: { full: number | null; small: number | null };
  val: { full: PathMetrics | null; small: PathMetrics | null };
  lambda: number;
  lr: number;
  seconds: number;
  time: number;
}

export interface StepMetrics {
  globalStep: number;
  epoch: number;
  step: number;
  loss: number;
  ce: number;
  kl: number | null;
  smallCe: number | null;
  lambda: number;
  lr: number;
  imagesPerSecond: number;
  time: number;
}

/** What a DAN search prefers for one width group at the end of an epoch. */
export interface DanChoice {
  group: string;
  /** argmax η: the α the group would get if the search stopped now. */
  alpha: number;
  /** η over the search space's α values, in ascending α. */
  logits: number[];
  /** softmax(η/τ) over the same values: a row of the width-choice heatmap. */
  probabilities: number[];
}

export interface DanEpoch {
  epoch: number;
  /** The Gumbel-softmax temperature of that epoch. */
  tau: number | null;
  choices: DanChoice[];
}

/** A dataset a run used, as the history keeps it. */
export interface StoredDataset {
  id: number;
  /** Where it was read from: a folder, an IDX directory or a `synthetic:…` spec. */
  path: string;
  /** A hash of the decoded content: the same images give the same key wherever they live. */
  contentKey: string;
  name: string;
  /** Classes, counts, image size, channels… */
  summary: Record<string, unknown>;
  /** How the images were divided into training and validation. */
  split: Record<string, unknown>;
  createdAt: number;
}

/** An exported model as stored: its figures and its files' sizes and digests. */
export interface ModelRecord {
  id: number;
  runId: number;
  network: ExportNetwork;
  format: ExportFormat;
  precision: Precision;
  params: number;
  macs: number;
  /** Validation accuracy of the exported network. */
  accuracy: number | null;
  /** Batch-1 CPU latency of this model in its format's runtime, in milliseconds. */
  latencyMs: number | null;
  /** The full network's float32 latency and its MACs, measured in the same session, for the speed-up. */
  fullLatencyMs: number | null;
  fullMacs: number | null;
  /** The same network in float32, same runtime and session (fp16 and int8 exports). */
  fp32LatencyMs: number | null;
  verification: VerificationReport;
  metadata: Record<string, unknown>;
  outDir: string;
  byteSize: number;
  createdAt: number;
  files: Array<{ name: string; byteSize: number; sha256: string }>;
}

export interface ModelDetails extends ModelRecord {
  /** full MACs / small MACs, for the small network of an adjoined run. */
  macRatio: number | null;
  /** full latency / small latency, measured in the same session. */
  latencySpeedup: number | null;
  /** float32 latency / this model's, same network and runtime (fp16 and int8 exports). */
  speedupOverFp32: number | null;
  /** Said when int8 did not make the model faster (from its metadata). */
  speedNote: string | null;
  /** Whether every stored file still matches its SHA-256. */
  integrity: 'ok' | 'corrupted';
  corruptedFiles: string[];
}

/** Everything the history knows about one run. */
export interface RunDetails {
  run: RunRecord;
  dataset: StoredDataset | null;
  epochs: EpochMetrics[];
  steps: StepMetrics[];
  danChoices: DanEpoch[];
  models: ModelDetails[];
}
