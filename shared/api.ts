import type { BackendInfo, BackendKind } from './backend.js';
import { dataSource, importSettings, modelConfig, searchConfig, sweepSpec, trainConfig } from './config-codecs.js';
import type { SearchConfig } from './dan.js';
import type { DatasetRecord, DatasetScan, ImportProgress, ImportSettings } from './dataset.js';
import { bool, type Decoder, either, int, nullable, num, obj, oneOf, optional, record, str } from './decode.js';
import type { SerializedError } from './errors.js';
import type { EngineEvent } from './events.js';
import { EXPORT_FORMATS, type ExportFormat, type Precision, PRECISIONS } from './export.js';
import type { ModelDetails, RunDetails, RunRecord, RunStatus } from './history.js';
import type { AlphaSpec, ModelConfig } from './model/config.js';
import type { CostReport } from './model/cost.js';
import type { CellProgress, SweepSpec, SweepStatus, SweepView } from './sweep.js';
import type { SystemReport } from './system.js';
import type { TrainConfig } from './train-config.js';

/**
 * The contract between the renderer and the main side: every call the
 * renderer may make, with its request and response, and every event it
 * receives — typed once here, spoken over Electron IPC (a contextBridge
 * preload) or over the browser shell's WebSocket. Names read `domain:verb`.
 */

/** Where a run's images come from and how an image folder is decoded. */
export interface DataSource {
  /** An image folder, an IDX or CIFAR folder, or `synthetic[:…]`. */
  path: string;
  /** For image folders: size, channels, resize mode, validation share, split seed. */
  settings: Partial<ImportSettings>;
  limitTrain: number | null;
  limitVal: number | null;
}

/** Why the history refuses writes: another program's lock, a full disk, a read-only file or folder, a disk error, damage. */
export type HistoryWriteProblem = 'busy' | 'full' | 'read-only' | 'io' | 'damaged';

/**
 * Whether the history takes writes. While it does not, runs go on and what
 * they report is kept in memory (`pending` updates), written once it does.
 */
export type HistoryWrites = { state: 'ok' } | { state: 'failing'; problem: HistoryWriteProblem; reason: string; pending: number; since: number };

export interface AppInfo {
  version: string;
  /** `electron`: the desktop app; `browser`: the browser shell (`adjoin serve`). */
  shell: 'electron' | 'browser';
  platform: string;
  /** Compute backends whose packages are installed, best first (the engine picks the first that loads). */
  backends: BackendKind[];
  /** The bundled sample dataset (Fashion-MNIST, 10 classes × 100 images), if present. */
  sampleDataset: string | null;
  dataDir: string;
  database: string;
  /** What the launch check found wrong with the history (it is then open read-only), or null. */
  databaseDamage: string[] | null;
  /** The automatic backup of the history next to it, if there is one (`adjoin db restore` puts it back). */
  databaseBackup: string | null;
  /** Whether the history takes writes now (later changes come as `history:writes`). */
  historyWrites: HistoryWrites;
  /** Whether the main side can open a native folder picker and reveal folders (the desktop app can). */
  nativeDialogs: boolean;
  /** Where the Train screen and the sweep dialog send runs, as last chosen. */
  runOn: RunOn;
}

/** "Run on": this machine, or a queue of `adjoin worker`s at a Redis URL (remembered either way). */
export interface RunOn {
  useQueue: boolean;
  /** The last queue URL given ('' if none), password included: the history keeps it to reconnect. */
  url: string;
}

/** A queue worker as it announced itself. */
export interface QueueWorkerInfo {
  name: string;
  host: string;
  backend: BackendInfo;
  cores: number;
  concurrency: number;
  /** Runs it is training now. */
  running: number;
}

/** What a check of a queue found: the server, and the workers alive on it. */
export interface QueueCheck {
  /** The URL without its password. */
  queue: string;
  redisVersion: string;
  /** Whether Redis keeps an append-only file (without it, a restart loses queued runs); null if it does not say. */
  appendOnly: boolean | null;
  workers: QueueWorkerInfo[];
}

export interface ApiCalls {
  'app:info': { req: Record<string, never>; res: AppInfo };
  /** Reads headers only: classes, counts, file types, problems by file, thumbnails. */
  'dataset:scan': { req: { path: string }; res: DatasetScan };
  /** Decodes into the cache (progress: `dataset:progress`); a second import of the same folder reads the cache. */
  'dataset:import': { req: { path: string; settings: Partial<ImportSettings> }; res: DatasetRecord };
  'dataset:cancel-import': { req: { path: string }; res: { cancelled: boolean } };
  /** Parameters and MACs of the full network and, with α, of its small network. */
  'model:estimate': { req: { model: ModelConfig; alpha: AlphaSpec | null }; res: CostReport };
  /** `queue`: train on a queue of workers at that URL instead of this machine. */
  'runs:start': { req: { data: DataSource; config: TrainConfig; queue?: string }; res: { runId: number } };
  'runs:search': { req: { data: DataSource; config: SearchConfig; thenTrain: number | null; queue?: string }; res: { runId: number } };
  /** Stops a running run after its current step (checkpointing it), or drops a queued one. */
  'runs:cancel': { req: { runId: number }; res: { status: RunStatus } };
  /** Continues an interrupted, cancelled or failed run from its last checkpoint. */
  'runs:resume': { req: { runId: number }; res: { runId: number } };
  'runs:list': { req: Record<string, never>; res: RunRecord[] };
  'runs:show': { req: { runId: number }; res: RunDetails };
  'runs:delete': { req: { runId: number }; res: { deleted: boolean } };
  /**
   * Writes the small network (and the full one with `full`) to `outDir`, verified and timed. Files of the same
   * names that Adjoin did not write are replaced only with `overwrite` (else refused, error field `overwrite`).
   * `precision` (default fp32) names the variant; `fp16: true` is the older way
   * to ask for fp16. `calibration`, `maxDrop` and `uint8Input` are int8's.
   */
  'runs:export': {
    req: {
      runId: number;
      format: ExportFormat;
      precision?: Precision;
      fp16?: boolean;
      full: boolean;
      outDir: string;
      calibration?: number;
      maxDrop?: number;
      uint8Input?: boolean;
      overwrite?: boolean;
    };
    res: ModelDetails[];
  };
  /** Queues a sweep (kd cells wait for their teacher); progress: `sweep:progress`, `sweeps:changed`. */
  'sweeps:start': { req: { spec: SweepSpec; queue?: string }; res: { sweepId: number } };
  'sweeps:list': { req: Record<string, never>; res: SweepSummary[] };
  /** Each cell's state and run, and the statistics over the runs finished so far. */
  'sweeps:show': { req: { sweepId: number }; res: SweepView };
  /** Stops the sweep's runs after their current step (they checkpoint); the sweep ends cancelled. */
  'sweeps:cancel': { req: { sweepId: number }; res: { stopping: boolean } };
  /** Continues a cancelled or interrupted sweep: finished runs are kept, stopped ones continue. */
  'sweeps:resume': { req: { sweepId: number }; res: { sweepId: number } };
  /** What this machine can train on (the report of `adjoin doctor`): backends with reasons, GPU adapters, native modules, space, the history. */
  'system:report': { req: Record<string, never>; res: SystemReport };
  /** Connects to a queue (a wrong password or an absent server is a clear error) and lists its workers. */
  'queue:check': { req: { url: string }; res: QueueCheck };
  /** Remembers the "Run on" choice for the next launch. */
  'queue:remember': { req: RunOn; res: RunOn };
  /** Shows a file or folder in the system file manager (desktop app only). */
  'shell:reveal': { req: { path: string }; res: { shown: boolean } };
  /** The native folder picker (desktop app only); null when the user cancels. */
  'dialog:choose-folder': { req: { title: string }; res: { path: string | null } };
}

export type ApiCall = keyof ApiCalls;
export type ApiRequest<K extends ApiCall> = ApiCalls[K]['req'];
export type ApiResponse<K extends ApiCall> = ApiCalls[K]['res'];

/** Errors cross the boundary as data: Electron forwards only `message` from a throwing handler. */
export type ApiResult<T> = { ok: true; value: T } | { ok: false; error: SerializedError };

export interface ApiEvents {
  /** An engine event of a run (its progress, epochs, DAN distributions, end). */
  'run:event': { runId: number; event: EngineEvent };
  /** A run's row changed (created, started, ended, deleted): the history should refresh. */
  'runs:changed': { runId: number };
  'dataset:progress': { path: string; progress: ImportProgress };
  /** A sweep's cell changed state (queued, running, finished, waiting for its teacher…). */
  'sweep:progress': CellProgress;
  /** A sweep was created, or its status changed: the list of sweeps should refresh. */
  'sweeps:changed': { sweepId: number; status: SweepStatus };
  /** The history stopped or started taking writes again (the banner). */
  'history:writes': HistoryWrites;
}

/** A sweep in the list: its grid and how far it got. */
export interface SweepSummary {
  sweepId: number;
  status: SweepStatus;
  createdAt: number;
  finishedAt: number | null;
  spec: SweepSpec;
  /** The queue its runs go to, without its password; null for a sweep on this machine. */
  queue: string | null;
  runs: number;
  finishedRuns: number;
}

export type ApiEvent = keyof ApiEvents;

/** One client interface, two transports (IPC in Electron, WebSocket in the browser shell). */
export interface ApiClient {
  /** Resolves with the response, or rejects with an ApiError carrying the main side's error. */
  call<K extends ApiCall>(name: K, req: ApiRequest<K>): Promise<ApiResponse<K>>;
  /** Subscribes; returns the unsubscribe function. */
  on<E extends ApiEvent>(name: E, handler: (payload: ApiEvents[E]) => void): () => void;
}

/** An error the main side returned, with its name, field and message intact. */
export class ApiError extends Error {
  override readonly name: string;
  readonly code: string | undefined;
  readonly field: string | undefined;
  constructor(error: SerializedError) {
    super(error.message);
    this.name = error.name;
    this.code = error.code;
    this.field = error.field;
  }
}

const empty: Decoder<Record<string, never>> = (v, path) => obj({})(v ?? {}, path) as Record<string, never>;
const runId = obj({ runId: int });
const path = obj({ path: str });
const sweepId = obj({ sweepId: int });
/**
 * How each call's request is checked where it enters the main side, before
 * any handler sees it (docs/ARCHITECTURE.md, "Conventions").
 */
export const API_REQUESTS: { [K in ApiCall]: Decoder<ApiRequest<K>> } = {
  'app:info': empty,
  'dataset:scan': path,
  'dataset:import': obj({ path: str, settings: importSettings }),
  'dataset:cancel-import': path,
  'model:estimate': obj({ model: modelConfig, alpha: nullable(either(int, record(int), 'an α or a map of width group to α')) }),
  'runs:start': obj({ data: dataSource, config: trainConfig, queue: optional(str) }),
  'runs:search': obj({ data: dataSource, config: searchConfig, thenTrain: nullable(int), queue: optional(str) }),
  'runs:cancel': runId,
  'runs:resume': runId,
  'runs:list': empty,
  'runs:show': runId,
  'runs:delete': runId,
  'runs:export': obj({
    runId: int,
    format: oneOf(EXPORT_FORMATS),
    precision: optional(oneOf(PRECISIONS)),
    fp16: optional(bool),
    full: bool,
    outDir: str,
    calibration: optional(int),
    maxDrop: optional(num),
    uint8Input: optional(bool),
    overwrite: optional(bool),
  }),
  'sweeps:start': obj({ spec: sweepSpec, queue: optional(str) }),
  'sweeps:list': empty,
  'sweeps:show': sweepId,
  'sweeps:cancel': sweepId,
  'sweeps:resume': sweepId,
  'system:report': empty,
  'queue:check': obj({ url: str }),
  'queue:remember': obj({ useQueue: bool, url: str }),
  'shell:reveal': path,
  'dialog:choose-folder': obj({ title: str }),
};

export const API_CALLS = Object.keys(API_REQUESTS) as ApiCall[];

export function isApiCall(name: unknown): name is ApiCall {
  return typeof name === 'string' && Object.prototype.hasOwnProperty.call(API_REQUESTS, name);
}
