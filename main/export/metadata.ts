import type { ExportFormat, ExportMetadata, ExportNetwork, LatencyReport, Precision, QuantizationInfo, VerificationReport } from '../../shared/export.js';
import { ONNX_OPSET } from '../../shared/export.js';
import type { ModelConfig } from '../../shared/model/config.js';
import type { ExportFile } from './files.js';
import { TFLITE_SCHEMA_VERSION } from './tflite/builder.js';

export interface MetadataInput {
  format: ExportFormat;
  network: ExportNetwork;
  precision: Precision;
  files: string[];
  model: ModelConfig;
  alpha: unknown;
  classes: string[];
  mean: number[];
  std: number[];
  params: number;
  macs: number;
  validationAccuracy: number | null;
  runId: number;
  /** The model's input and outputs, as its exporter describes them. */
  io: Pick<ExportMetadata, 'input' | 'outputs'>;
  verification: VerificationReport;
  latency: LatencyReport | null;
  comparison: ExportMetadata['comparison'];
  quantization: QuantizationInfo | null;
  now: Date;
}

/**
 * The preprocessing an app must apply, in words. The normalisation is not
 * folded into the first convolution: the engine pads the *normalised* image
 * with zeros, which in raw pixels is padding with the mean, and a folded
 * conv would pad raw pixels with 0 — its border outputs would differ.
 */
export function preprocessing(layout: 'NCHW' | 'NHWC', channels: number): string {
  const order = channels === 3 ? 'R, G, B channels' : 'one grey channel';
  return `${order}; pixel values scaled to [0, 1] (divide 8-bit values by 255); then x = (pixel − mean[c]) / std[c] per channel; float32, ${layout}`;
}

/** The version of metadata.json's format; Adjoin knows the folders it exported into by it. */
export const METADATA_FORMAT_VERSION = 1;

export function exportMetadata(m: MetadataInput): ExportMetadata {
  const { inputSize: s, channels: c } = m.model;
  return {
    formatVersion: METADATA_FORMAT_VERSION,
    generatedBy: 'Adjoin',
    modelFormat: m.format,
    network: m.network,
    precision: m.precision,
    files: m.files,
    input: m.io.input,
    outputs: m.io.outputs,
    channelOrder: c === 3 ? 'RGB' : 'L',
    mean: m.mean,
    std: m.std,
    normalizationFolded: false,
    preprocessing: preprocessing(m.io.input.layout, c) + (m.io.input.dtype === 'uint8' ? '; then quantized to uint8 with input.quantization' : ''),
    classNames: m.classes,
    params: m.params,
    macs: m.macs,
    validationAccuracy: m.validationAccuracy,
    sourceRunId: m.runId,
    architecture: {
      arch: m.model.arch,
      stem: m.model.stem,
      width: m.model.width,
      inputSize: s,
      alpha: m.network === 'small' ? m.alpha : null,
      compressFirstStage: m.model.compressFirstStage,
    },
    onnxOpset: m.format === 'onnx' ? ONNX_OPSET : null,
    tfliteSchemaVersion: m.format === 'tflite' ? TFLITE_SCHEMA_VERSION : null,
    verification: m.verification,
    latency: m.latency,
    comparison: m.comparison,
    quantization: m.quantization,
    createdAt: m.now.toISOString(),
  };
}

/** The facts an app needs, inside the ONNX file itself (metadata_props). */
export function onnxMetadataProps(o: { classes: string[]; mean: number[]; std: number[]; channels: number; runId: number }): Record<string, string> {
  return {
    class_names: JSON.stringify(o.classes),
    channel_order: o.channels === 3 ? 'RGB' : 'L',
    mean: JSON.stringify(o.mean),
    std: JSON.stringify(o.std),
    normalization: 'not folded into the model: apply it to the input',
    preprocessing: preprocessing('NCHW', o.channels),
    source_run_id: String(o.runId),
  };
}

const text = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'utf8'));

export function labelsFile(classes: readonly string[]): ExportFile {
  return { name: 'labels.txt', data: text(`${classes.join('\n')}\n`) };
}

export function metadataFile(m: ExportMetadata): ExportFile {
  return { name: 'metadata.json', data: text(`${JSON.stringify(m, null, 2)}\n`) };
}
