import * as tf from '@tensorflow/tfjs';
import { assertNever } from '../../shared/errors.js';
import type { Precision, VerificationReport } from '../../shared/export.js';
import type { ModelGraph } from '../../shared/model/graph.js';
import type { SmallPlan } from '../../shared/model/plan.js';
import { forward } from '../engine/forward.js';
import type { NetworkParams } from '../engine/params.js';

/**
 * The inputs every export is checked on: normalised NHWC images, the run's
 * validation images first (with their labels), then seeded random ones.
 * They are produced a chunk at a time, so a large validation split is never
 * held as floats all at once.
 */
export interface VerificationBatch {
  n: number;
  height: number;
  width: number;
  channels: number;
  /** The first `validationSamples` inputs are validation images. */
  validationSamples: number;
  /** Their labels (null when there are no validation images). */
  labels: Int32Array | null;
  note: string | null;
  /** Inputs [from, from + count), normalised, NHWC. */
  inputs(from: number, count: number): Float32Array;
}

/** A batch over inputs already in memory (tests, benchmarks). */
export function batchFromArray(
  x: Float32Array,
  shape: { n: number; height: number; width: number; channels: number },
  o: { validationSamples?: number; labels?: Int32Array | null; note?: string | null } = {},
): VerificationBatch {
  const per = shape.height * shape.width * shape.channels;
  if (x.length !== shape.n * per) throw new Error(`${x.length} values for ${shape.n} inputs of ${shape.height}×${shape.width}×${shape.channels}`);
  return {
    ...shape,
    validationSamples: o.validationSamples ?? 0,
    labels: o.labels ?? null,
    note: o.note ?? null,
    inputs: (from, count) => x.subarray(from * per, (from + count) * per),
  };
}

/** How many inputs a runtime is given at once while checking. */
export const CHECK_CHUNK = 256;

/** Calls `fn` on consecutive chunks of the batch's inputs. */
export async function forChunks(batch: VerificationBatch, fn: (x: Float32Array, from: number, count: number) => Promise<void> | void): Promise<void> {
  for (let from = 0; from < batch.n; from += CHECK_CHUNK) {
    const count = Math.min(CHECK_CHUNK, batch.n - from);
    await fn(batch.inputs(from, count), from, count);
  }
}

export function concat(parts: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const ENGINE_CHUNK = 16;

/**
 * The engine's logits for a batch: the small path of an adjoined network
 * (`small` given), or the network's full path. Batch norms in inference mode.
 */
export async function engineLogits(graph: ModelGraph, params: NetworkParams, batch: VerificationBatch, small: SmallPlan | null): Promise<Float32Array> {
  const { height, width, channels } = batch;
  const per = height * width * channels;
  const parts: Float32Array[] = [];
  await forChunks(batch, async (x, _from, count) => {
    for (let at = 0; at < count; at += ENGINE_CHUNK) {
      const m = Math.min(ENGINE_CHUNK, count - at);
      const logits = tf.tidy(() => {
        const input = tf.tensor4d(x.subarray(at * per, (at + m) * per), [m, height, width, channels]);
        const out = forward(graph, params, input, { training: false, full: small === null, small: small === null ? null : { kind: 'sliced', plan: small } });
        return small === null ? out.full! : out.small!;
      });
      try {
        // Read asynchronously: a GPU backend would stall on a synchronous read.
        parts.push((await logits.data()) as Float32Array);
      } finally {
        logits.dispose();
      }
    }
  });
  return concat(parts);
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

/** Top-1 accuracy of the first `labels.length` rows of [n, classes] logits. */
export function top1Accuracy(logits: Float32Array, labels: Int32Array, classes: number): number {
  if (labels.length === 0) return 0;
  let right = 0;
  for (let i = 0; i < labels.length; i++) if (argmax(logits, i, classes) === labels[i]) right += 1;
  return right / labels.length;
}

/**
 * What each precision must show. float32 exports must agree with the engine
 * on every top-1 and to 1e-3 on every logit; float16 ones on 99% of top-1.
 * int8 ones are judged by what they are for — accuracy on the validation
 * images — and may lose at most `maxDrop` points against float32.
 */
export function requirements(precision: Precision, maxDrop: number): VerificationReport['required'] {
  switch (precision) {
    case 'fp32':
      return { top1Agreement: 1, maxAbsLogitDiff: 1e-3, maxAccuracyDrop: null };
    case 'fp16':
      return { top1Agreement: 0.99, maxAbsLogitDiff: null, maxAccuracyDrop: null };
    case 'int8':
      return { top1Agreement: 0, maxAbsLogitDiff: null, maxAccuracyDrop: maxDrop };
    default:
      return assertNever(precision, 'precision');
  }
}

/**
 * Compares an exported model's logits with the engine's on the batch.
 * Float exports are compared on every input; int8 ones on the validation
 * images only — their activation ranges are calibrated on real images, so
 * agreement on random inputs outside those ranges says nothing.
 */
export function verificationReport(
  reference: Float32Array,
  got: Float32Array,
  o: { precision: Precision; maxDrop: number; reference: string; runtime: string; batch: VerificationBatch },
): VerificationReport {
  const { batch } = o;
  const classes = reference.length / batch.n;
  const v = batch.validationSamples;
  const onlyValidation = o.precision === 'int8';
  const n = onlyValidation ? v : batch.n;
  const cmp = n === 0 ? { top1Agreement: 0, maxAbsLogitDiff: Infinity } : compareLogits(reference.subarray(0, n * classes), got.subarray(0, n * classes), n);
  const labels = batch.labels;
  const accuracy = labels === null || v === 0 ? null : top1Accuracy(got, labels, classes);
  const referenceAccuracy = labels === null || v === 0 ? null : top1Accuracy(reference, labels, classes);
  const accuracyDrop = accuracy === null || referenceAccuracy === null ? null : 100 * (referenceAccuracy - accuracy);
  const required = requirements(o.precision, o.maxDrop);
  const passed =
    n > 0 &&
    cmp.top1Agreement >= required.top1Agreement &&
    (required.maxAbsLogitDiff === null || cmp.maxAbsLogitDiff <= required.maxAbsLogitDiff) &&
    (required.maxAccuracyDrop === null || (accuracyDrop !== null && accuracyDrop <= required.maxAccuracyDrop + 1e-9));
  return {
    reference: o.reference,
    runtime: o.runtime,
    samples: n,
    validationSamples: v,
    ...cmp,
    accuracy,
    referenceAccuracy,
    accuracyDrop,
    required,
    passed,
    note: batch.note,
  };
}

const pct = (x: number): string => `${(100 * x).toFixed(2)}%`;

/** The export disagrees with the engine, lost too much accuracy, or cannot be checked; nothing was written or stored. */
export class ExportRefusedError extends Error {
  override readonly name = 'ExportRefusedError';
  private constructor(
    readonly what: string,
    /** The check that failed (null when the export could not be checked at all). */
    readonly report: VerificationReport | null,
    reason: string,
  ) {
    super(`export refused: ${reason}`);
  }

  /** The check ran and failed: the message gives its figures. */
  static failedCheck(what: string, report: VerificationReport): ExportRefusedError {
    return new ExportRefusedError(what, report, describeFailure(what, report));
  }

  /** The export cannot be made or checked (an int8 model with nothing to calibrate on). */
  static cannot(what: string, reason: string): ExportRefusedError {
    return new ExportRefusedError(what, null, reason);
  }
}

function describeFailure(what: string, r: VerificationReport): string {
  if (r.required.maxAccuracyDrop !== null) {
    if (r.accuracy === null || r.referenceAccuracy === null || r.accuracyDrop === null) {
      return `the ${what} cannot be judged: its accuracy needs the run's validation images (${r.note ?? 'none were read'})`;
    }
    return (
      `the ${what} reaches ${pct(r.accuracy)} top-1 on ${r.validationSamples} validation images in ${r.runtime}, ` +
      `${r.accuracyDrop.toFixed(2)} points below float32's ${pct(r.referenceAccuracy)} (at most ${r.required.maxAccuracyDrop.toFixed(2)} allowed, --max-drop); ` +
      `top-1 agreement with float32 ${pct(r.top1Agreement)}`
    );
  }
  return (
    `the ${what} disagrees with ${r.reference} on ${r.samples} inputs (${r.runtime}): ` +
    `top-1 agreement ${pct(r.top1Agreement)} (required ${pct(r.required.top1Agreement)}), ` +
    `max abs logit difference ${r.maxAbsLogitDiff.toExponential(2)}` +
    (r.required.maxAbsLogitDiff === null ? '' : ` (allowed ${r.required.maxAbsLogitDiff.toExponential(0)})`)
  );
}
