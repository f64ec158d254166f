import type { ExportFormat, ExportMetadata, Precision } from '../../../shared/export.js';
import type { ModelGraph } from '../../../shared/model/graph.js';
import type { NetworkParams } from '../../engine/params.js';
import type { ExportFile } from '../files.js';
import type { InferenceGraph } from '../ir/inference-graph.js';
import type { ActivationQuant, QuantPlan } from '../quant/plan.js';

/** One plain network to export, and its lowered form. */
export interface ExportSubject {
  graph: ModelGraph;
  params: NetworkParams;
  lowered: InferenceGraph;
  /** Model name written into the file. */
  name: string;
}

/** What the files carry about where they come from and how to feed them. */
export interface ModelFacts {
  classes: string[];
  mean: number[];
  std: number[];
  channels: number;
  runId: number;
}

export interface BuildRequest {
  precision: Precision;
  /** int8: the calibrated plan. */
  quant: QuantPlan | null;
  /** int8: take uint8 input instead of float32. */
  uint8Input: boolean;
  facts: ModelFacts;
}

export interface InputShape {
  height: number;
  width: number;
  channels: number;
}

export interface SessionOptions {
  /** CPU threads of the runtime: 1 to time, as a phone app runs one model on one core. */
  threads: number;
  /** A uint8-input model's input parameters; float inputs are quantized with them first. */
  uint8Input: { scale: number; zeroPoint: number } | null;
}

/** An exported model loaded in its runtime. */
export interface ModelSession {
  /** Logits `[n, classes]` of n normalised NHWC images. */
  logits(x: Float32Array, n: number): Promise<Float32Array>;
  /** One batch-1 inference on a fixed input: what the latency is the median of. */
  runOnce(): Promise<void>;
  release(): Promise<void>;
}

/**
 * A file format: how a network is written in it, and how the written files
 * are run — for the check before anything is written, and for the latency.
 * Each format is one module implementing this, registered once in
 * `registry.ts`; the list of formats is `EXPORT_FORMATS` in shared/.
 */
export interface Exporter {
  readonly format: ExportFormat;
  /** The runtime and its version, as reports name it. */
  readonly runtime: string;
  /** The type int8 models carry their activations in (null: no int8 in this format). */
  readonly int8Activations: 'int8' | 'uint8' | null;
  /** The model's own files (labels.txt and metadata.json are added by the export). */
  build(subject: ExportSubject, request: BuildRequest): Promise<ExportFile[]>;
  open(files: readonly ExportFile[], shape: InputShape, options: SessionOptions): Promise<ModelSession>;
  /** The input and outputs as metadata.json describes them. */
  describe(shape: InputShape, classes: number, o: { subject: ExportSubject; uint8Input: ActivationQuant | null }): Pick<ExportMetadata, 'input' | 'outputs'>;
}

/** The file of a given name among an export's files. */
export function fileNamed(files: readonly ExportFile[], name: string): Uint8Array {
  const f = files.find((x) => x.name === name);
  if (f === undefined) throw new Error(`the export has no ${name}`);
  return f.data;
}

/** A fixed input for timing: any values will do, a pattern keeps runs alike. */
export function timingInput(length: number): Float32Array {
  return Float32Array.from({ length }, (_, i) => Math.sin(i * 0.37));
}

/** Quantizes normalised floats for a uint8-input model. */
export function quantizeInput(x: Float32Array, q: { scale: number; zeroPoint: number }): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = Math.max(0, Math.min(255, Math.round(x[i]! / q.scale + q.zeroPoint)));
  return out;
}
