import type { SearchConfig } from '../../shared/dan.js';
import type { ImportSettings } from '../../shared/dataset.js';
import type { ExportFormat, Precision } from '../../shared/export.js';
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
  /** Calls process.abort() inside the engine before this global step. */
  abortAtStep?: number;
}

interface JobBase {
  data: DataRequest;
  /** The run's folder: checkpoints and outputs. */
  outDir: string;
  /** Decoded-dataset cache folder. */
  cacheDir: string;
  /** Continue from the checkpoint in `outDir`. */
  resume: boolean;
  testHooks?: TestHooks;
}

/**
 * What one engine job does: scan or import a dataset folder (decoding
 * untrusted files, so not in the app's own process), train a network, or
 * search widths and optionally train the result.
 */
export type JobSpec =
  | { kind: 'scan'; path: string }
  | { kind: 'import'; path: string; settings: Partial<ImportSettings>; cacheDir: string }
  /** Exports a run's network: verified in ONNX Runtime and timed, so kept out of the app's process too. */
  | {
      kind: 'export';
      database: string;
      runId: number;
      format: ExportFormat;
      precision: Precision;
      full: boolean;
      outDir: string;
      calibration?: number;
      maxDrop?: number;
      uint8Input?: boolean;
    }
  | (JobBase & { kind: 'train'; config: TrainConfig })
  | (JobBase & { kind: 'search'; config: SearchConfig; thenTrain: number | null });
