/** The formats a small network is exported to, and what is kept about each export. */
export const EXPORT_FORMATS = ['onnx', 'tfjs'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** `small`: the extracted small network (the product); `full`: the big one, for comparison. */
export const EXPORT_NETWORKS = ['small', 'full'] as const;
export type ExportNetwork = (typeof EXPORT_NETWORKS)[number];

/** float16 stores weights in half precision; the model still takes and returns float32. */
export const PRECISIONS = ['float32', 'float16'] as const;
export type Precision = (typeof PRECISIONS)[number];

/** The ONNX operator set the exporter writes (Slice with tensor inputs needs 13). */
export const ONNX_OPSET = 13;

/**
 * How an exported model was checked against the engine before it was accepted
 * (docs/RELIABILITY.md rows 29–30).
 */
export interface VerificationReport {
  /** What produced the reference logits. */
  reference: string;
  /** What ran the exported model. */
  runtime: string;
  samples: number;
  /** Validation images among the samples; the rest are seeded random inputs. */
  validationSamples: number;
  top1Agreement: number;
  maxAbsLogitDiff: number;
  required: { top1Agreement: number; maxAbsLogitDiff: number | null };
  passed: boolean;
  /** Why fewer validation images were used than asked for, if so. */
  note: string | null;
}

/** Batch-1 CPU latency, the median of `runs` timed runs after `warmup` untimed ones. */
export interface LatencyReport {
  medianMs: number;
  runs: number;
  warmup: number;
  threads: number;
  runtime: string;
}

/** What `metadata.json` next to an exported model says (format version 1). */
export interface ExportMetadata {
  formatVersion: 1;
  generatedBy: string;
  modelFormat: ExportFormat;
  network: ExportNetwork;
  precision: Precision;
  files: string[];
  /** Input and output tensors by name. Batch size is free: null in the shapes. */
  input: {
    name: string;
    layout: 'NCHW' | 'NHWC';
    shape: Array<number | null>;
    dtype: 'float32';
  };
  outputs: Array<{ name: string; shape: Array<number | null>; meaning: string }>;
  /** `RGB` or `L` (one grey channel). */
  channelOrder: 'RGB' | 'L';
  /** Per-channel mean and standard deviation, in [0, 1] pixel units. */
  mean: number[];
  std: number[];
  /** The normalisation is not inside the model: the caller applies it (see `preprocessing`). */
  normalizationFolded: false;
  preprocessing: string;
  classNames: string[];
  params: number;
  macs: number;
  /** Validation accuracy of the exported network at the end of its run. */
  validationAccuracy: number | null;
  sourceRunId: number;
  architecture: { arch: string; stem: string; width: number; inputSize: number; alpha: unknown; compressFirstStage: boolean };
  onnxOpset: number | null;
  /** How the file was checked against the engine before it was written. */
  verification: VerificationReport;
  /** Batch-1 CPU latency in onnxruntime-node (ONNX exports), and the full network's for comparison. */
  latency: LatencyReport | null;
  comparison: { fullMacs: number; macRatio: number; fullLatencyMs: number | null; latencySpeedup: number | null } | null;
  createdAt: string;
}
