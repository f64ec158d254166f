import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { ioFor, passesFor } from '../../../main/engine/batch-norm-passes.js';
import { batchNormInference, batchNormTrain } from '../../../main/engine/batch-norm.js';
import { maxAbsDiff, onBackend, seeded, useWasmBackend } from '../../helpers/tf.js';

useWasmBackend();

/** relu?(bn(x)·m? + r?) composed from plain tfjs ops, the reference. */
function composed(x: tf.Tensor, g: tf.Tensor1D, b: tf.Tensor1D, m: tf.Tensor1D | null, r: tf.Tensor | null, relu: boolean): tf.Tensor {
  const { mean, variance } = tf.moments(x, [0, 1, 2]);
  let y = tf.batchNorm(x, mean, variance, b, g, 1e-5);
  if (m !== null) y = tf.mul(y, m);
  if (r !== null) y = tf.add(y, r);
  return relu ? tf.relu(y) : y;
}

/** Per-channel values cycling through `values`. */
function channels(values: number[], C: number): tf.Tensor1D {
  return tf.tensor1d(Array.from({ length: C }, (_, c) => values[c % values.length]! * (1 + c / 10)));
}

// Three channels take the JavaScript loops, eight the wasm SIMD ones (four per lane vector).
function run(fused: boolean, withResidual: boolean, relu: boolean, withMask = false, C = 3): Float32Array[] {
  const shape: [number, number, number, number] = [4, 5, 5, C];
  const n = shape.reduce((a, b) => a * b);
  return tf.tidy(() => {
    const x = tf.tensor(seeded(n, 1), shape);
    const g = channels([1.5, 0.5, -0.7], C);
    const b = channels([0.1, -0.2, 0.3], C);
    const r = tf.tensor(seeded(n, 3), shape);
    const up = tf.tensor(seeded(n, 4), shape);
    const m = channels([1, 0.25, 0], C);
    const f = (xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor, mm: tf.Tensor, rr?: tf.Tensor): tf.Scalar => {
      const res = withResidual ? rr! : null;
      const mask = withMask ? (mm as tf.Tensor1D) : null;
      const y = fused
        ? batchNormTrain(xx, gg as tf.Tensor1D, bb as tf.Tensor1D, { epsilon: 1e-5, mask, residual: res, relu }).y
        : composed(xx, gg as tf.Tensor1D, bb as tf.Tensor1D, mask, res, relu);
      return tf.sum(tf.mul(y, up));
    };
    const value = f(x, g, b, m, r);
    const inputs = [x, g, b, m, ...(withResidual ? [r] : [])];
    // Without a mask, m does not reach the output: its gradient is not asked for.
    const wrt = withMask ? inputs : inputs.filter((t) => t !== m);
    const grads = tf.grads((...a: tf.Tensor[]) => {
      const byName = new Map(wrt.map((t, i) => [t, a[i]!]));
      const get = (t: tf.Tensor): tf.Tensor => byName.get(t) ?? t;
      return f(get(x), get(g), get(b), get(m), get(r));
    })(wrt);
    return [value.dataSync() as Float32Array, ...grads.map((t) => t.dataSync() as Float32Array)];
  });
}

describe('fused training batch norm', () => {
  it.each([
    [false, false, false, 3],
    [false, true, false, 3],
    [true, true, false, 3],
    [false, false, true, 3],
    [false, true, true, 3],
    [true, true, true, 3],
    [false, false, false, 8],
    [false, true, false, 8],
    [true, false, false, 8],
    [true, true, false, 8],
    [false, true, true, 8],
    [true, true, true, 8],
  ])('matches composed ops, residual=%s relu=%s mask=%s channels=%i, values and all gradients', async (withResidual, relu, withMask, C) => {
    const reference = await onBackend('cpu', () => run(false, withResidual, relu, withMask, C));
    for (const backend of ['wasm', 'cpu']) {
      const got = await onBackend(backend, () => run(true, withResidual, relu, withMask, C));
      expect(got).toHaveLength(reference.length);
      reference.forEach((ref, i) => expect(maxAbsDiff(got[i]!, ref)).toBeLessThan(2e-4));
    }
  });

  it('runs as wasm SIMD loops on the wasm heap when the channels come in fours', () => {
    const io = ioFor('wasm', tf.backend());
    for (const [C, kind] of [
      [8, 'simd'],
      [6, 'js'],
    ] as const) {
      const passes = passesFor(io, C);
      expect(passes.kind).toBe(kind);
      passes.release();
    }
    expect(passesFor(ioFor('cpu', tf.findBackend('cpu')!), 8).kind).toBe('js');
  });

  it('keeps its sums in double precision: a large offset does not swamp the variance', () => {
    // Values 10⁵ + {0, 1, 2, 3}: in single precision Σx²/N − mean² would lose the variance entirely.
    const values = Array.from({ length: 4096 }, (_, i) => 1e5 + (i % 4));
    const x = tf.tensor4d(
      values.flatMap((v) => [v, v, v, v]),
      [16, 16, 16, 4],
    );
    const { variance } = batchNormTrain(x, tf.ones([4]) as tf.Tensor1D, tf.zeros([4]) as tf.Tensor1D, { epsilon: 1e-5 });
    for (const v of variance.dataSync()) expect(v).toBeCloseTo(1.25, 3);
  });

  it('returns the biased batch statistics', () => {
    const x = tf.tensor4d([1, 2, 3, 5], [1, 2, 2, 1]);
    const { mean, variance } = batchNormTrain(x, tf.ones([1]) as tf.Tensor1D, tf.zeros([1]) as tf.Tensor1D, { epsilon: 1e-5 });
    expect(mean.dataSync()[0]).toBeCloseTo(2.75, 6);
    expect(variance.dataSync()[0]).toBeCloseTo((1.75 ** 2 + 0.75 ** 2 + 0.25 ** 2 + 2.25 ** 2) / 4, 6);
  });

  it('leaves no tensors behind after a gradient', () => {
    run(true, true, true);
    const before = tf.memory().numTensors;
    run(true, true, true);
    run(true, false, true);
    run(true, true, true, true);
    expect(tf.memory().numTensors).toBe(before);
  });

  it.each([
    { shape: [3, 5, 5, 8], affine: true },
    { shape: [3, 5, 5, 8], affine: false },
    { shape: [7, 12], affine: true },
    { shape: [2, 4, 4, 3], affine: true },
  ])('in inference mode (running statistics) matches the cpu backend: shape $shape, scale and offset $affine', async ({ shape, affine }) => {
    const C = shape[shape.length - 1]!;
    const n = shape.reduce((a, b) => a * b);
    const xv = seeded(n, 11);
    const norm = (): Float32Array =>
      tf.tidy(() => {
        const x = tf.tensor(xv, shape);
        const mean = channels([0.3, -0.2, 0.1], C);
        const variance = tf.abs(channels([0.5, 2, 1.2], C)) as tf.Tensor1D;
        const [offset, scale] = affine ? [channels([0.1, -0.2, 0.3], C), channels([1.5, 0.5, -0.7], C)] : [undefined, undefined];
        return tf.batchNorm(x, mean, variance, offset, scale, 1e-3).dataSync() as Float32Array;
      });
    const ref = await onBackend('cpu', norm);
    expect(maxAbsDiff(norm(), ref)).toBeLessThan(1e-5);
  });

  it.each([
    [false, false, false, 3],
    [true, true, true, 3],
    [false, false, false, 8],
    [false, true, false, 8],
    [true, false, false, 8],
    [true, true, false, 8],
    [true, true, true, 8],
  ])('fused on running statistics matches composed ops: residual=%s relu=%s mask=%s channels=%i', async (withResidual, relu, withMask, C) => {
    const shape = [3, 4, 4, C];
    const n = shape.reduce((a, b) => a * b);
    const run = (fusedKernel: boolean): Float32Array =>
      tf.tidy(() => {
        const x = tf.tensor(seeded(n, 12), shape);
        const g = channels([1.5, 0.5, -0.7], C);
        const b = channels([0.1, -0.2, 0.3], C);
        const stats = { mean: channels([0.3, -0.2, 0.1], C), variance: tf.abs(channels([0.5, 2, 1.2], C)) as tf.Tensor1D };
        const r = withResidual ? tf.tensor(seeded(n, 13), shape) : null;
        const m = withMask ? channels([1, 0.25, 0], C) : null;
        if (fusedKernel) return batchNormInference(x, g, b, stats, { epsilon: 1e-5, mask: m, residual: r, relu }).dataSync() as Float32Array;
        let y: tf.Tensor = tf.batchNorm(x, stats.mean, stats.variance, b, g, 1e-5);
        if (m !== null) y = tf.mul(y, m);
        if (r !== null) y = tf.add(y, r);
        return (relu ? tf.relu(y) : y).dataSync() as Float32Array;
      });
    const reference = await onBackend('cpu', () => run(false));
    for (const backend of ['wasm', 'cpu']) expect(maxAbsDiff(await onBackend(backend, () => run(true)), reference)).toBeLessThan(1e-5);
  });

  it.each([
    [true, true, 8],
    [false, false, 8],
    [true, true, 3],
  ])("fused on running statistics has the composed ops' gradients: residual and mask=%s relu=%s channels=%i", async (withExtras, relu, C) => {
    const shape = [2, 3, 3, C];
    const n = shape.reduce((a, b) => a * b);
    const run = (fusedKernel: boolean): Float32Array[] =>
      tf.tidy(() => {
        const x = tf.tensor(seeded(n, 14), shape);
        const g = channels([1.5, 0.5, -0.7], C);
        const b = channels([0.1, -0.2, 0.3], C);
        const mean = channels([0.3, -0.2, 0.1], C);
        const variance = tf.abs(channels([0.5, 2, 1.2], C)) as tf.Tensor1D;
        const r = tf.tensor(seeded(n, 15), shape);
        const m = channels([1, 0.25, 0.6], C);
        const up = tf.tensor(seeded(n, 16), shape);
        const f = (...a: tf.Tensor[]): tf.Scalar => {
          const [xx, gg, bb, mu, vv, rr, mm] = a as [tf.Tensor, tf.Tensor1D, tf.Tensor1D, tf.Tensor1D, tf.Tensor1D, tf.Tensor, tf.Tensor1D];
          const residual = withExtras ? rr : null;
          const mask = withExtras ? mm : null;
          let y: tf.Tensor;
          if (fusedKernel) y = batchNormInference(xx, gg, bb, { mean: mu, variance: vv }, { epsilon: 1e-5, mask, residual, relu });
          else {
            y = tf.batchNorm(xx, mu, vv, bb, gg, 1e-5);
            if (mask !== null) y = tf.mul(y, mask);
            if (residual !== null) y = tf.add(y, residual);
            if (relu) y = tf.relu(y);
          }
          return tf.sum(tf.mul(y, up));
        };
        const wrt = withExtras ? [x, g, b, mean, variance, r, m] : [x, g, b, mean, variance];
        const grads = tf.grads((...a: tf.Tensor[]) => f(...a, ...(withExtras ? [] : [r, m])))(wrt);
        return grads.map((t) => t.dataSync() as Float32Array);
      });
    const reference = await onBackend('cpu', () => run(false));
    for (const backend of ['wasm', 'cpu']) {
      const got = await onBackend(backend, () => run(true));
      reference.forEach((ref, i) => expect(maxAbsDiff(got[i]!, ref), `input ${i} on ${backend}`).toBeLessThan(1e-4));
    }
  });
});
