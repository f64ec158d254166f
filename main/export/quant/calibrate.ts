import * as tf from '@tensorflow/tfjs';
import type { CalibrationMethod } from '../../../shared/export.js';
import type { InferenceGraph } from '../ir/inference-graph.js';
import { InferenceRunner } from '../ir/run.js';
import type { TensorRange } from './plan.js';

/** Normalised NHWC images to calibrate on. */
export interface CalibrationImages {
  x: Float32Array;
  n: number;
  height: number;
  width: number;
  channels: number;
}

/** The percentile method keeps this share of each tensor's values inside its range. */
export const CALIBRATION_PERCENTILE = 99.99;
const BINS = 2048;
const BATCH = 32;

/** Each tensor's range by every method, from one pass over the images per statistic. */
export type CalibratedRanges = Record<CalibrationMethod, TensorRange[]>;

function batches(images: CalibrationImages, fn: (x: tf.Tensor4D) => void): void {
  const per = images.height * images.width * images.channels;
  for (let from = 0; from < images.n; from += BATCH) {
    const m = Math.min(BATCH, images.n - from);
    tf.tidy(() => fn(tf.tensor4d(images.x.subarray(from * per, (from + m) * per), [m, images.height, images.width, images.channels])));
  }
}

/**
 * Runs the lowered network on the calibration images and records, for
 * every tensor the model file will hold, its min and max (`minmax`) and the
 * range that holds all but the outer 0.01% of its values on each side
 * (`percentile`, from a 2048-bin histogram over [min, max]): the first keeps
 * every outlier representable, the second spends the 256 levels on where the
 * values are. Which one quantizes better is measured, not assumed.
 */
export function calibrate(g: InferenceGraph, images: CalibrationImages): CalibratedRanges {
  if (images.n === 0) throw new Error('calibration needs at least one image');
  const runner = new InferenceRunner(g);
  try {
    const minmax: TensorRange[] = g.tensors.map(() => ({ min: Infinity, max: -Infinity }));
    batches(images, (x) => {
      runner.run(x, (t, v) => {
        const r = minmax[t]!;
        r.min = Math.min(r.min, tf.min(v).dataSync()[0]!);
        r.max = Math.max(r.max, tf.max(v).dataSync()[0]!);
      });
    });
    const histograms = g.tensors.map(() => new Float64Array(BINS));
    const counts = g.tensors.map(() => 0);
    batches(images, (x) => {
      runner.run(x, (t, v) => {
        const { min, max } = minmax[t]!;
        const width = (max - min) / BINS;
        const h = histograms[t]!;
        const data = v.dataSync() as Float32Array;
        counts[t]! += data.length;
        if (width <= 0) {
          h[0]! += data.length;
          return;
        }
        for (let i = 0; i < data.length; i++) h[Math.min(BINS - 1, Math.floor((data[i]! - min) / width))]! += 1;
      });
    });
    const percentile = minmax.map((r, t) => clipped(r, histograms[t]!, counts[t]!));
    return { minmax, percentile };
  } finally {
    runner.dispose();
  }
}

/** The range between the (100 − p)th and the p-th percentile, read from the histogram (bin edges, outward). */
function clipped(range: TensorRange, h: Float64Array, total: number): TensorRange {
  const width = (range.max - range.min) / BINS;
  if (width <= 0 || total === 0) return { ...range };
  const tail = (total * (100 - CALIBRATION_PERCENTILE)) / 100;
  let lo = 0;
  for (let seen = 0; lo < BINS - 1 && seen + h[lo]! <= tail; lo++) seen += h[lo]!;
  let hi = BINS - 1;
  for (let seen = 0; hi > lo && seen + h[hi]! <= tail; hi--) seen += h[hi]!;
  return { min: range.min + lo * width, max: range.min + (hi + 1) * width };
}
