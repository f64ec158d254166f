import type { BackendInfo } from './backend.js';
import type { SerializedError } from './errors.js';
import type { CostReport } from './model/cost.js';
import type { GroupChoice, SearchConfig } from './dan.js';
import type { Cost } from './model/cost.js';
import type { TrainConfig } from './train-config.js';

/** Accuracy and mean cross-entropy of one path on the validation split. */
export interface PathMetrics {
  accuracy: number;
  loss: number;
}

export interface DataInfo {
  name: string;
  source: string;
  classes: string[];
  trainCount: number;
  valCount: number;
  height: number;
  width: number;
  channels: number;
  /** Per-channel normalisation of the model input, in [0, 1] units. */
  mean: number[];
  std: number[];
  /** A hash of the decoded images and labels of both splits (absent in runs of older versions). */
  fingerprint?: string;
}

interface EventBase {
  /** Milliseconds since the Unix epoch. */
  time: number;
}

export interface StartedEvent extends EventBase {
  type: 'started';
  backend: BackendInfo;
  config: TrainConfig;
  cost: CostReport;
  data: DataInfo;
  totalSteps: number;
  stepsPerEpoch: number;
  /** Where a resumed run picked up, or null for a fresh one. */
  resumedFrom: { epoch: number; step: number } | null;
}

/** Where a training-like job is, as its progress bar shows it. */
export interface StepProgress extends EventBase {
  /** 1-based epoch and step within it. */
  epoch: number;
  step: number;
  stepsPerEpoch: number;
  globalStep: number;
  totalSteps: number;
  /** Fraction of training done, t of λ(t). */
  progress: number;
  loss: number;
  ce: number;
  lambda: number;
  lr: number;
  imagesPerSecond: number;
  etaSeconds: number;
}

export interface StepEvent extends StepProgress {
  type: 'step';
  kl: number | null;
  smallCe: number | null;
}

export interface EpochEvent extends EventBase {
  type: 'epoch';
  epoch: number;
  epochs: number;
  trainLoss: number;
  /**
   * Accuracies of the full and the small network; null where the run has no
   * such network (a standard run has no small one, a small or kd run no full one).
   */
  trainAccuracy: { full: number | null; small: number | null };
  val: { full: PathMetrics | null; small: PathMetrics | null };
  lambda: number;
  lr: number;
  /** Wall time of the epoch including evaluation. */
  seconds: number;
}

export interface CheckpointEvent extends EventBase {
  type: 'checkpoint';
  epoch: number;
  step: number;
  path: string;
}

export interface RunOutputs {
  /** Our own bundle of the trained network (both paths' weights). */
  network: string;
  /** The extracted small network: our bundle and a TF.js layers model directory. */
  small: { bundle: string; tfjs: string } | null;
  summary: string;
}

export interface FinishedEvent extends EventBase {
  type: 'finished';
  epochs: number;
  val: { full: PathMetrics | null; small: PathMetrics | null };
  /** Confusion matrix [true][predicted] of the exported network (the small one in AN mode). */
  confusion: number[][];
  seconds: number;
  outputs: RunOutputs | null;
}

export interface CancelledEvent extends EventBase {
  type: 'cancelled';
  epoch: number;
  step: number;
  checkpoint: string | null;
}

export type FailureReason = 'nan_loss' | 'error' | 'crashed';

export interface FailedEvent extends EventBase {
  type: 'failed';
  reason: FailureReason;
  error: SerializedError;
  checkpoint: string | null;
}

export interface LogEvent extends EventBase {
  type: 'log';
  level: 'info' | 'warn';
  message: string;
}

export type TrainEvent = StartedEvent | StepEvent | EpochEvent | CheckpointEvent | FinishedEvent | CancelledEvent | FailedEvent | LogEvent;

/** A DAN search began: its groups and the full network it searches in. */
export interface SearchStartedEvent extends EventBase {
  type: 'search-started';
  backend: BackendInfo;
  config: SearchConfig;
  data: DataInfo;
  /** Width groups with their full channel counts. */
  groups: Array<{ group: string; channels: number }>;
  full: Cost;
  /** Small-network MACs with every group at the space's largest α (min) and at its smallest (max). */
  feasible: { min: number; max: number };
  /** The budgeted search's MACs target; null in the paper's γ mode. */
  target: number | null;
  /** Training images held out for the η steps (0: none, the paper's joint step). */
  heldOut: number;
  /** Steps at the start that train the weights alone. */
  warmupSteps: number;
  totalSteps: number;
  stepsPerEpoch: number;
  resumedFrom: { epoch: number; step: number } | null;
}

export interface SearchStepEvent extends StepProgress {
  type: 'search-step';
  kl: number;
  /** n_f: expected small-network MACs under this step's g, over the full network's MACs. */
  flops: number;
  tau: number;
  /** The budget penalty on expected MACs under softmax(η/τ) (0 without a budget, or inside its band). */
  penalty: number;
  /** The η step's loss on its held-out batch; null when η did not step alone (warm-up, or the paper's joint step). */
  etaLoss: number | null;
}

export interface SearchEpochEvent extends EventBase {
  type: 'search-epoch';
  epoch: number;
  epochs: number;
  tau: number;
  /** Expected small-network MACs under softmax(η/τ), and those of the argmax architecture. */
  expectedMacs: number;
  /** The budget's MACs target (null: the paper's γ mode) and the penalty on `expectedMacs`. */
  target: number | null;
  penalty: number;
  /** Entropy (nats) of each group's softmax(η/τ); log |A| is flat. */
  entropies: Record<string, number>;
  argmax: Cost;
  groups: GroupChoice[];
  trainLoss: number;
  /** The full network and the super-network's small path (under softmax(η/τ)) on the validation split. */
  val: { full: PathMetrics; small: PathMetrics };
  seconds: number;
}

/** One move of the projection onto the budget: a group narrowed (larger α) or widened. */
export interface ProjectionMove {
  group: string;
  from: number;
  to: number;
  /** Small-network MACs after the move. */
  macs: number;
  /** KL(p‖q) of the hard-masked candidate after the move, on a fixed held-out subset. */
  kl: number;
}

/** How the argmax architecture was moved onto the budget. */
export interface SearchProjection {
  target: number;
  tolerance: number;
  /** False when no configuration within the band was reached; the closest was taken. */
  withinBand: boolean;
  /** Every move made, in order. */
  moves: ProjectionMove[];
}

/** The search's answer: an α per width group, ready for adjoined training. */
export interface SearchResultEvent extends EventBase {
  type: 'search-result';
  /** The chosen network: the projected configuration in a budgeted search, the argmax in the paper's mode. */
  alphas: Record<string, number>;
  cost: { full: Cost; small: Cost };
  /** argmax η per group, before any projection. */
  argmax: { alphas: Record<string, number>; cost: Cost };
  /** null in the paper's mode (no budget). */
  projection: SearchProjection | null;
  /** What the user should know about the search (flat distributions, a budget not reached). */
  warnings: string[];
  groups: GroupChoice[];
  /** Per epoch, per group, softmax(η/τ): the width-choice heatmap. */
  history: Array<{ epoch: number; tau: number; probabilities: Record<string, number[]> }>;
  seconds: number;
}

export type SearchEvent = SearchStartedEvent | SearchStepEvent | SearchEpochEvent | SearchResultEvent;

/** Everything an engine job reports: a search, a training run, or a search then a training run. */
export type EngineEvent = TrainEvent | SearchEvent;

/** The engine event of one type. */
export type EventOf<T extends EngineEvent['type']> = Extract<EngineEvent, { type: T }>;
