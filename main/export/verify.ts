import * as tf from '@tensorflow/tfjs';
import ort from 'onnxruntime-node';
import type { Precision, VerificationReport } from '../../shared/export.js';
import type { ModelGraph } from '../../shared/model/graph.js';
import type { SmallPlan } from '../../shared/model/plan.js';
import { forward } from '../engine/forward.js';
import type { NetworkParams } from '../engine/params.js';
import type { ExportFile } from './files.js';
import { nhwcToNchw } from './fold.js';
import { ONNX_INPUT, ONNX_LOGITS } from './onnx-model.js';
import { loadTfjsFiles } from './tfjs-model.js';

/** Inputs every export is checked on: normalised NHWC images, validation ones first. */
export interface VerificationBatch {
  x: Float32Array;
  n: number;
  height: number;
  width: number;
  channels: number;
  validationSamples: number;
  note: string | null;
}

/** Float32 exports must agree exactly on top-1 and to 1e-3 on logits; float16 ones on 99% of top-1 (docs/RELIABILITY.md rows 29–30). */
export function requirements(precision: Precision): VerificationReport['required'] {
  return precision === 'float32' ? { top1Agreement: 1, maxAbsLogitDiff: 1e-3 } : { top1Agreement: 0.99, maxAbsLogitDiff: null };
}

const CHUNK = 16;

/**
 * The engine's logits for a batch: the small path of an adjoined network
 * (`small` given), or the network's full path. Batch norms in inference mode.
 */
export async function engineLogits(graph: ModelGraph, params: NetworkParams, batch: VerificationBatch, small: SmallPlan | null): Promise<Float32Array> {
  const { n, height, width, channels } = batch;
  const per = height * width * channels;
  const parts: Float32Array[] = [];
  for (let from = 0; from < n; from += CHUNK) {
    const m = Math.min(CHUNK, n - from);
    const logits = tf.tidy(() => {
      const x = tf.tensor4d(batch.x.subarray(from * per, (from + m) * per), [m, height, width, channels]);
      const out = forward(graph, params, x, { training: false, full: small === null, small: small === null ? null : { kind: 'sliced', plan: small } });
      return small === null ? out.full! : out.small!;
    });
    try {
      parts.push((await logits.data()) as Float32Array);
    } finally {
      logits.dispose();
    }
  }
  return concat(parts);
}

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Runs an ONNX model in onnxruntime-node on the batch (NCHW), in chunks, and once at batch size 1. */
export async function onnxLogits(model: Uint8Array, batch: VerificationBatch): Promise<Float32Array> {
  const { n, height, width, channels } = batch;
  const per = height * width * channels;
  const nchw = nhwcToNchw(batch.x, n, height, width, channels);
  const session = await ort.InferenceSession.create(model, { graphOptimizationLevel: 'all' });
  try {
    const parts: Float32Array[] = [];
    // The first chunk is a single image: batch 1 and batch N are both exercised.
    for (let from = 0, m = 1; from < n; from += m, m = Math.min(CHUNK, n - from)) {
      const input = new ort.Tensor('float32', nchw.slice(from * per, (from + m) * per), [m, channels, height, width]);
      const out = await session.run({ [ONNX_INPUT]: input });
      const logits = out[ONNX_LOGITS];
      if (logits === undefined || logits.type !== 'float32') throw new Error(`the ONNX model has no float32 output '${ONNX_LOGITS}'`);
      parts.push(logits.data as Float32Array);
    }
    return concat(parts);
  } finally {
    await session.release();
  }
}

/** Loads TF.js model files into the engine's TF.js and runs them on the batch (NHWC). */
export async function tfjsLogits(files: readonly ExportFile[], batch: VerificationBatch): Promise<Float32Array> {
  const model = await loadTfjsFiles(files);
  try {
    const { n, height, width, channels } = batch;
    const logits = tf.tidy(() => model.predict(tf.tensor4d(batch.x, [n, height, width, channels])) as tf.Tensor);
    try {
      return (await logits.data()) as Float32Array;
    } finally {
      logits.dispose();
    }
  } finally {
    model.dispose();
  }
}

function argmax(a: Float32Array, row: number, classes: number): number {
  let best = 0;
  for (let k = 1; k < classes; k++) if (a[row * classes + k]! > a[row * classes + best]!) best = k;
  return best;
}

/** Top-1 agreement and max abs logit difference of two [n, classes] logit arrays. */
export function compareLogits(reference: Float32Array, got: Float32Array, n: number): { top1Agreement: number; maxAbsLogitDiff: number } {
  if (reference.length !== got.length || reference.length % n !== 0) {
    throw new Error(`logit shapes differ: ${reference.length} reference values, ${got.length} exported ones, ${n} inputs`);
  }
  const classes = reference.length / n;
  let agree = 0;
  let maxDiff = 0;
  for (let i = 0; i < n; i++) if (argmax(reference, i, classes) === argmax(got, i, classes)) agree += 1;
  for (let i = 0; i < reference.length; i++) {
    const d = Math.abs(reference[i]! - got[i]!);
    // A NaN anywhere must fail the check, and NaN compares false.
    maxDiff = Number.isNaN(d) ? Infinity : Math.max(maxDiff, d);
  }
  return { top1Agreement: agree / n, maxAbsLogitDiff: maxDiff };
}

export function verificationReport(
  comparison: { top1Agreement: number; maxAbsLogitDiff: number },
  o: { precision: Precision; reference: string; runtime: string; batch: VerificationBatch },
): VerificationReport {
  const required = requirements(o.precision);
  const passed =
    comparison.top1Agreement >= required.top1Agreement && (required.maxAbsLogitDiff === null || comparison.maxAbsLogitDiff <= required.maxAbsLogitDiff);
  return {
    reference: o.reference,
    runtime: o.runtime,
    samples: o.batch.n,
    validationSamples: o.batch.validationSamples,
    ...comparison,
    required,
    passed,
    note: o.batch.note,
  };
}

/** The export disagrees with the engine; nothing was written or stored. */
export class ExportRefusedError extends Error {
  override readonly name = 'ExportRefusedError';
  constructor(
    readonly what: string,
    readonly report: VerificationReport,
  ) {
    const r = report;
    const pct = (x: number): string => `${(100 * x).toFixed(2)}%`;
    super(
      `export refused: the ${what} disagrees with ${r.reference} on ${r.samples} inputs (${r.runtime}): ` +
        `top-1 agreement ${pct(r.top1Agreement)} (required ${pct(r.required.top1Agreement)}), ` +
        `max abs logit difference ${r.maxAbsLogitDiff.toExponential(2)}` +
        (r.required.maxAbsLogitDiff === null ? '' : ` (allowed ${r.required.maxAbsLogitDiff.toExponential(0)})`),
    );
  }
}
