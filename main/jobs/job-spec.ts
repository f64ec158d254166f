import type { SearchConfig } from '../../shared/dan.js';
import type { BackendInfo } from '../../shared/backend.js';
import type { DatasetRecord, DatasetScan, ImportSettings } from '../../shared/dataset.js';
import type { BuiltExport, ExportFormat, ExportTiming, Precision } from '../../shared/export.js';
import type { DatasetInput, RunRecord, StoredDataset } from '../../shared/history.js';
import type { ModelConfig } from '../../shared/model/config.js';
import type { TrainConfig } from '../../shared/train-config.js';

/** Where a job's images come from. */
export interface DataRequest {
  /** An image folder, an IDX or CIFAR folder, or `synthetic[:…]`. */
  source: string;
  limitTrain: number | null;
  limitVal: number | null;
  /** How an image folder is decoded (ignored for IDX, CIFAR and synthetic data). */
  import: Partial<ImportSettings> | null;
}

/**
 * Test-only switches, honoured only when the job process runs with
 * ADJOIN_TEST_HOOKS=1: they make the engine fail the way a CUDA fault would.
 */
export interface TestHooks {
  /** Aborts the job process before this global step. */
  abortAtStep?: number;
  /** Blocks the engine before this global step until `releaseFile` exists (a run caught mid-training). */
  hold?: { atStep: number; releaseFile: string };
  /**
   * Holds the job before this global step until it is asked to stop (or its
   * process is killed): how a test catches a run mid-way without timing.
   */
  holdAtStep?: number;
}

interface JobBase {
  data: DataRequest;
  /** The run's folder: checkpoints and outputs. */
  outDir: string;
  /** Decoded-dataset cache folder. */
  cacheDir: string;
  /** Continue from the checkpoint in `outDir`. */
  resume: boolean;
  /**
   * The content key of the dataset as the machine that submitted the run
   * read it (a queue worker's job): a copy that differs is refused with the reason.
   */
  expectedContentKey?: string;
  testHooks?: TestHooks;
}

/** How a scan reads a folder (the CLI's flags; the app takes the defaults). */
export interface ScanRequest {
  thumbnailsPerClass?: number;
  valSplit?: number;
  followDirectoryLinks?: boolean;
}

/** What opening a dataset found: the model fields it gives, its history row and (image folders) the import's record. */
export interface OpenedDataset {
  /** The model's data-given fields: the import's size and channels (or the request's), else the data's own. */
  input: Pick<ModelConfig, 'inputSize' | 'channels' | 'classes'>;
  /** The images' own height and width. */
  height: number;
  width: number;
  dataset: DatasetInput;
  record: DatasetRecord | null;
}

/** A run to export: what the history knows of it, read by the host (the only process that opens the history). */
export interface ExportJob {
  run: RunRecord;
  dataset: StoredDataset | null;
  format: ExportFormat;
  precision: Precision;
  /** Also export the full network, into `<outDir>/full/`, for comparison. */
  full: boolean;
  outDir: string;
  /** Replace files of the same names in `outDir` that Adjoin did not write (the user said so). */
  overwrite: boolean;
  cacheDir: string;
  /** int8: training images to calibrate on (default 256). */
  calibration?: number;
  /** int8: the largest accepted drop of validation accuracy against float32, in points (default 1). */
  maxDrop?: number;
  /** int8: the model takes uint8 input. */
  uint8Input?: boolean;
}

/** One exported network as the export job built, checked and wrote it; the host records it, its files as BLOBs. */
/**
 * One exported network as the export job built, checked and wrote it (see
 * `BuiltExport`), with the figures its comparisons give; the host records
 * it, its files as BLOBs.
 */
export type ExportResult = BuiltExport & {
  format: ExportFormat;
  precision: Precision;
  macRatio: number | null;
  latencySpeedup: number | null;
  speedupOverFp32: number | null;
  /** Said when a lower precision did not make the model faster. */
  note: string | null;
  createdAt: number;
};

/**
 * What one engine job does: scan, import or open a dataset (decoding
 * untrusted files, so not in the app's own process), export a run's network
 * (verified in ONNX Runtime and timed), train a network, search widths
 * and optionally train the result, time exported models side by side, or
 * say which backend the engine loads here (a queue worker announces it).
 */
export type JobSpec =
  | { kind: 'backend' }
  | { kind: 'scan'; path: string; options?: ScanRequest }
  | { kind: 'import'; path: string; settings: Partial<ImportSettings>; cacheDir: string; followLinks?: boolean }
  | { kind: 'open-data'; data: DataRequest; cacheDir: string }
  | ({ kind: 'export' } & ExportJob)
  | { kind: 'latency'; dirs: string[]; runs: number; warmup: number }
  | (JobBase & { kind: 'train'; config: TrainConfig })
  | (JobBase & { kind: 'search'; config: SearchConfig; thenTrain: number | null });

/** What each kind of job answers with when it finishes (training jobs report through their events instead). */
export interface JobValues {
  backend: BackendInfo;
  scan: DatasetScan;
  import: DatasetRecord;
  'open-data': OpenedDataset;
  export: ExportResult[];
  latency: ExportTiming[];
  train: undefined;
  search: undefined;
}
