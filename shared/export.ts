import { InputError } from './errors.js';

/** The formats a small network is exported to, and what is kept about each export. */
export const EXPORT_FORMATS = ['onnx', 'tflite', 'tfjs'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** `small`: the extracted small network (the product); `full`: the big one, for comparison. */
export const EXPORT_NETWORKS = ['small', 'full'] as const;
export type ExportNetwork = (typeof EXPORT_NETWORKS)[number];

/**
 * `fp32`: float32 throughout. `fp16`: weights stored in float16 and turned
 * back into float32 inside the model (half the file; float in, float out).
 * `int8`: post-training full-integer quantization — int8 weights and
 * activations, float in and float out.
 */
export const PRECISIONS = ['fp32', 'fp16', 'int8'] as const;
export type Precision = (typeof PRECISIONS)[number];

/** What histories written before int8 existed call two of them. */
const LEGACY_PRECISIONS: Readonly<Record<string, Precision>> = { float32: 'fp32', float16: 'fp16' };

/** A precision by today's name or by the name older histories stored; null for anything else. */
export function precisionNamed(name: string): Precision | null {
  if ((PRECISIONS as readonly string[]).includes(name)) return name as Precision;
  return LEGACY_PRECISIONS[name] ?? null;
}

export interface ExportFormatInfo {
  /** How the interface and the CLI name it. */
  label: string;
  /** The precisions this format is written in. */
  precisions: readonly Precision[];
  /** The model's own files (labels.txt and metadata.json come with every format). */
  modelFiles: readonly string[];
  /** What runs it at export time, for the check and the latency. */
  runtime: string;
  layout: 'NCHW' | 'NHWC';
}

/**
 * Every format, its files and precisions: the CLI's choices, the
 * interface's labels and the history's validation all read this table, so a
 * new format is one entry here and one exporter module.
 */
export const EXPORT_FORMAT_INFO = {
  onnx: { label: 'ONNX', precisions: ['fp32', 'fp16', 'int8'], modelFiles: ['model.onnx'], runtime: 'onnxruntime-node', layout: 'NCHW' },
  tflite: { label: 'TFLite', precisions: ['fp32', 'fp16', 'int8'], modelFiles: ['model.tflite'], runtime: 'LiteRT.js', layout: 'NHWC' },
  // TF.js's own weight quantization stores uint8/uint16 weights and computes in float: not full integer, so no int8 here.
  tfjs: { label: 'TF.js', precisions: ['fp32', 'fp16'], modelFiles: ['model.json', 'weights.bin'], runtime: 'TF.js (the engine)', layout: 'NHWC' },
} as const satisfies Record<ExportFormat, ExportFormatInfo>;

export function supportsPrecision(format: ExportFormat, precision: Precision): boolean {
  return (EXPORT_FORMAT_INFO[format].precisions as readonly Precision[]).includes(precision);
}

/** The ONNX operator set the exporter writes (Slice with tensor inputs needs 13). */
export const ONNX_OPSET = 13;

/** How activation ranges are read from the calibration images. */
export const CALIBRATION_METHODS = ['minmax', 'percentile'] as const;
export type CalibrationMethod = (typeof CALIBRATION_METHODS)[number];

/** Training images an int8 export is calibrated on, unless told otherwise. */
export const DEFAULT_CALIBRATION_IMAGES = 256;
/** Points of validation accuracy an int8 export may lose against float32 before it is refused. */
export const DEFAULT_MAX_ACCURACY_DROP = 1.0;

/** Which variants of an export to make, and the int8 settings. */
export interface ExportOptions {
  format: ExportFormat;
  precision: Precision;
  /** int8: training images to calibrate activation ranges on. */
  calibration: number;
  /** int8: the largest drop of validation accuracy (points) against float32 that is accepted. */
  maxDrop: number;
  /** int8: the model takes uint8 input (quantized with the parameters in metadata.json) instead of float32. */
  uint8Input: boolean;
}

/**
 * One network exported in memory — built, checked and timed — with the
 * files to write and the figures the history keeps: what an export job
 * hands the host.
 */
export interface BuiltExport {
  network: ExportNetwork;
  dir: string;
  /** The model's files with labels.txt and metadata.json. */
  files: Array<{ name: string; data: Uint8Array }>;
  params: number;
  macs: number;
  /** The network's accuracy at the end of its run. */
  accuracy: number | null;
  latencyMs: number | null;
  fullLatencyMs: number | null;
  /** The same network in float32, timed alongside (null for float32 exports). */
  fp32LatencyMs: number | null;
  /** The full network's MACs, for a small network's comparison. */
  fullMacs: number | null;
  verification: VerificationReport;
  metadata: ExportMetadata;
}

/**
 * An export request's format, precision and int8 settings, checked (at the
 * CLI and the API before anything is opened, and again by the export job);
 * the message names the flag at fault.
 */
export function checkExportOptions(req: {
  format: ExportFormat;
  precision: Precision;
  calibration?: number | undefined;
  maxDrop?: number | undefined;
  uint8Input?: boolean | undefined;
}): ExportOptions {
  const { format, precision } = req;
  if (!supportsPrecision(format, precision)) {
    const info = EXPORT_FORMAT_INFO[format];
    throw new InputError(`${info.label} exports are ${info.precisions.join(' or ')}, not ${precision}`, 'precision');
  }
  const calibration = req.calibration ?? DEFAULT_CALIBRATION_IMAGES;
  if (!Number.isInteger(calibration) || calibration < 1) {
    throw new InputError(`--calibration must be a whole number of training images, at least 1; got ${calibration}`, 'calibration');
  }
  const maxDrop = req.maxDrop ?? DEFAULT_MAX_ACCURACY_DROP;
  if (!Number.isFinite(maxDrop) || maxDrop < 0 || maxDrop > 100) {
    throw new InputError(`--max-drop must be a number of percentage points from 0 to 100; got ${maxDrop}`, 'maxDrop');
  }
  const uint8Input = req.uint8Input ?? false;
  if (uint8Input && precision !== 'int8') throw new InputError('--uint8-input applies to int8 exports only', 'uint8Input');
  return { format, precision, calibration, maxDrop, uint8Input };
}

/**
 * How an exported model was checked against the engine before it was
 * accepted: on the run's whole validation split (plus seeded random inputs
 * for float models), in the runtime that will run it.
 */
export interface VerificationReport {
  /** What produced the reference logits. */
  reference: string;
  /** What ran the exported model. */
  runtime: string;
  /** Inputs the logits were compared on. */
  samples: number;
  /** Validation images among the samples; the rest are seeded random inputs. */
  validationSamples: number;
  top1Agreement: number;
  maxAbsLogitDiff: number;
  /** Top-1 accuracy of the exported model on the validation images (null without labelled images). */
  accuracy: number | null;
  /** The engine's float32 accuracy on the same images. */
  referenceAccuracy: number | null;
  /** (referenceAccuracy − accuracy) in percentage points. */
  accuracyDrop: number | null;
  required: { top1Agreement: number; maxAbsLogitDiff: number | null; maxAccuracyDrop: number | null };
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

/** An exported folder's batch-1 latency (`adjoin latency`), beside the facts a comparison needs. */
export interface ExportTiming {
  /** The folder's name, or the name given before an `=` (`resnet=out/r`). */
  label: string;
  dir: string;
  format: ExportFormat;
  precision: string;
  arch: string;
  network: string;
  sourceRunId: number;
  params: number;
  macs: number;
  validationAccuracy: number | null;
  latency: LatencyReport;
}

/** One activation tensor's int8 parameters: real = scale · (q − zeroPoint). */
export interface TensorQuantization {
  name: string;
  scale: number;
  zeroPoint: number;
  /** The calibrated range it covers. */
  min: number;
  max: number;
}

/** How an int8 model was quantized: in metadata.json, so a runtime's figures can be traced back. */
export interface QuantizationInfo {
  scheme: string;
  activationType: 'int8' | 'uint8';
  /** What the model's input tensor takes: float32 (quantized inside) or uint8 (quantized by the caller). */
  inputType: 'float32' | 'uint8';
  input: { scale: number; zeroPoint: number; dtype: 'int8' | 'uint8' };
  output: { scale: number; zeroPoint: number; dtype: 'int8' | 'uint8' };
  calibration: {
    images: number;
    source: string;
    method: CalibrationMethod;
    /** Validation accuracy of each method tried, in the export's runtime; the best is kept. */
    tried: Array<{ method: CalibrationMethod; accuracy: number | null }>;
    /** The percentile method clips each tensor's range to this fraction of its values. */
    percentile: number;
  };
  /** Tensors that share one scale and zero point (concatenations, pools). */
  sharedScaleGroups: string[][];
  activations: TensorQuantization[];
}

/** What `metadata.json` next to an exported model says (format version 1). */
export interface ExportMetadata {
  formatVersion: 1;
  generatedBy: string;
  modelFormat: ExportFormat;
  network: ExportNetwork;
  precision: Precision;
  files: string[];
  /** Input and output tensors by name. A null dimension is free (ONNX's batch). */
  input: {
    name: string;
    layout: 'NCHW' | 'NHWC';
    shape: Array<number | null>;
    dtype: 'float32' | 'uint8';
    /** uint8 input: real = scale · (q − zeroPoint), in normalised units. */
    quantization?: { scale: number; zeroPoint: number };
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
  /** TFLite's schema version (3) for TFLite models. */
  tfliteSchemaVersion: number | null;
  /** How the file was checked against the engine before it was written. */
  verification: VerificationReport;
  /** Batch-1 CPU latency in the format's runtime, and float32's and the full network's for comparison. */
  latency: LatencyReport | null;
  comparison: {
    fullMacs: number;
    macRatio: number;
    fullLatencyMs: number | null;
    latencySpeedup: number | null;
    /** The same network in float32, same runtime, timed alongside. */
    fp32LatencyMs: number | null;
    speedupOverFp32: number | null;
    /** Said when a lower precision did not make the model faster. */
    note: string | null;
  } | null;
  /** int8 only. */
  quantization: QuantizationInfo | null;
  createdAt: string;
}
