import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { ioFor, passesFor, simdPeriod } from '../../../main/engine/batch-norm-passes.js';
import type { Activation } from '../../../main/engine/activation.js';
import { batchNormInference, batchNormTrain } from '../../../main/engine/batch-norm.js';
import { maxAbsDiff, onBackend, seeded, useWasmBackend } from '../../helpers/tf.js';

useWasmBackend();

/** The activation as plain tfjs ops, the reference. */
function act(y: tf.Tensor, activation: Activation): tf.Tensor {
  return activation === 'relu' ? tf.relu(y) : activation === 'relu6' ? tf.relu6(y) : y;
}

/** act(bn(x)·m? + r?) composed from plain tfjs ops, the reference. */
function composed(x: tf.Tensor, g: tf.Tensor1D, b: tf.Tensor1D, m: tf.Tensor1D | null, r: tf.Tensor | null, activation: Activation): tf.Tensor {
  const { mean, variance } = tf.moments(x, [0, 1, 2]);
  let y = tf.batchNorm(x, mean, variance, b, g, 1e-5);
  if (m !== null) y = tf.mul(y, m);
  if (r !== null) y = tf.add(y, r);
  return act(y, activation);
}

/** Per-channel values cycling through `values`. */
function channels(values: number[], C: number): tf.Tensor1D {
  return tf.tensor1d(Array.from({ length: C }, (_, c) => values[c % values.length]! * (1 + c / 10)));
}

/** Scales large enough under ReLU6 that many outputs pass its cap of 6 (and many stay below 0). */
function gains(activation: Activation): number[] {
  return activation === 'relu6' ? [7.5, 2.5, -3.5] : [1.5, 0.5, -0.7];
}

// On wasm, eight channels fill two lane vectors a pixel; three take periods of four pixels (see simdPeriod).
function run(
  fused: boolean,
  withResidual: boolean,
  activation: Activation,
  withMask = false,
  C = 3,
  spatial: [number, number, number] = [4, 5, 5],
): Float32Array[] {
  const shape = [...spatial, C];
  const n = shape.reduce((a, b) => a * b);
  return tf.tidy(() => {
    const x = tf.tensor(seeded(n, 1), shape);
    const g = channels(gains(activation), C);
    const b = channels([0.1, -0.2, 0.3], C);
    const r = tf.tensor(seeded(n, 3), shape);
    const up = tf.tensor(seeded(n, 4), shape);
    const m = channels([1, 0.25, 0], C);
    const f = (xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor, mm: tf.Tensor, rr?: tf.Tensor): tf.Scalar => {
      const res = withResidual ? rr! : null;
      const mask = withMask ? (mm as tf.Tensor1D) : null;
      const y = fused
        ? batchNormTrain(xx, gg as tf.Tensor1D, bb as tf.Tensor1D, { epsilon: 1e-5, mask, residual: res, activation }).y
        : composed(xx, gg as tf.Tensor1D, bb as tf.Tensor1D, mask, res, activation);
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
    [false, 'none', false, 3],
    [false, 'relu', false, 3],
    [true, 'relu', false, 3],
    [false, 'none', true, 3],
    [false, 'relu', true, 3],
    [true, 'relu', true, 3],
    [false, 'relu6', false, 3],
    [true, 'relu6', true, 3],
    [false, 'none', false, 8],
    [false, 'relu', false, 8],
    [true, 'none', false, 8],
    [true, 'relu', false, 8],
    [false, 'relu', true, 8],
    [true, 'relu', true, 8],
    [false, 'relu6', false, 8],
    [true, 'relu6', false, 8],
    [false, 'relu6', true, 8],
    [true, 'relu6', true, 8],
  ] as const)(
    'matches composed ops, residual=%s activation=%s mask=%s channels=%i, values and all gradients',
    async (withResidual, activation, withMask, C) => {
      const reference = await onBackend('cpu', () => run(false, withResidual, activation, withMask, C));
      for (const backend of ['wasm', 'cpu']) {
        const got = await onBackend(backend, () => run(true, withResidual, activation, withMask, C));
        expect(got).toHaveLength(reference.length);
        reference.forEach((ref, i) => expect(maxAbsDiff(got[i]!, ref)).toBeLessThan(2e-4));
      }
    },
  );

  it('runs as wasm SIMD loops on the wasm heap whenever the tensor holds whole lane vectors', () => {
    const io = ioFor('wasm', tf.backend());
    for (const [C, total, kind] of [
      [8, 8 * 25, 'simd'],
      [6, 6 * 10, 'simd'],
      [14, 14 * 49 * 2, 'simd'],
      [3, 3 * 4, 'simd'],
      [3, 3 * 9, 'js'],
      [6, 6 * 9, 'js'],
    ] as const) {
      const passes = passesFor(io, C, total);
      expect(passes.kind, `${C} channels, ${total} values`).toBe(kind);
      passes.release();
    }
    expect(passesFor(ioFor('cpu', tf.findBackend('cpu')!), 8, 64).kind).toBe('js');
  });

  it('repeats a period of whole pixels that fills whole lane vectors', () => {
    expect([8, 12, 6, 14, 22, 3, 1, 5].map(simdPeriod)).toEqual([8, 12, 12, 28, 44, 12, 4, 20]);
  });

  // The small path's widths sliced by α (14, 22), other channel counts not in
  // fours, and sizes that are not whole lane vectors (the JavaScript loops on wasm too).
  it.each([
    [14, [2, 7, 7]],
    [22, [3, 4, 4]],
    [6, [2, 3, 3]],
    [5, [4, 3, 3]],
    [1, [4, 3, 5]],
    [3, [1, 3, 3]],
    [7, [1, 5, 3]],
  ] as const)('with %i channels over %j pixels matches composed ops on the cpu backend, every variant', async (C, spatial) => {
    for (const [withResidual, activation, withMask] of [
      [false, 'none', false],
      [true, 'relu', false],
      [false, 'relu6', true],
      [true, 'relu6', true],
    ] as const) {
      const reference = await onBackend('cpu', () => run(false, withResidual, activation, withMask, C, [...spatial]));
      const got = run(true, withResidual, activation, withMask, C, [...spatial]);
      expect(got).toHaveLength(reference.length);
      reference.forEach((ref, i) =>
        expect(maxAbsDiff(got[i]!, ref), `${activation} residual=${withResidual} mask=${withMask}, output ${i}`).toBeLessThan(2e-4),
      );
    }
  });

  it('matches composed ops on randomised shapes and channel counts', async () => {
    let state = 12345;
    const next = (n: number): number => {
      state = (state * 1103515245 + 12345) % 2147483648;
      return 1 + (state % n);
    };
    for (let trial = 0; trial < 8; trial++) {
      const C = next(40);
      const spatial: [number, number, number] = [next(4), next(6), next(6)];
      const activation = (['none', 'relu', 'relu6'] as const)[trial % 3]!;
      const withResidual = trial % 2 === 0;
      const withMask = trial % 4 < 2;
      const reference = await onBackend('cpu', () => run(false, withResidual, activation, withMask, C, spatial));
      const got = run(true, withResidual, activation, withMask, C, spatial);
      const shape = `[${spatial.join(', ')}, ${C}] ${activation} residual=${withResidual} mask=${withMask}`;
      reference.forEach((ref, i) => expect(maxAbsDiff(got[i]!, ref), `${shape}, output ${i}`).toBeLessThan(2e-4));
    }
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

  it('clips at 6 under ReLU6, with gradient only where the output is strictly between 0 and 6', () => {
    // One channel, eight images: bn(x) = x̂·γ with γ = 10 spreads the values well past 0 and 6.
    const xv = [-1.5, -0.4, 0.1, 0.3, 0.55, 0.8, 1.2, 2];
    const x = tf.tensor4d(xv, [8, 1, 1, 1]);
    const f = (xx: tf.Tensor): tf.Tensor => batchNormTrain(xx, tf.tensor1d([10]), tf.tensor1d([0]), { epsilon: 1e-5, activation: 'relu6' }).y;
    const y = Array.from(f(x).dataSync());
    const mean = xv.reduce((a, b) => a + b) / 8;
    const sd = Math.sqrt(xv.reduce((a, b) => a + (b - mean) ** 2, 0) / 8 + 1e-5);
    const expected = xv.map((v) => Math.min(Math.max((10 * (v - mean)) / sd, 0), 6));
    y.forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 4));
    expect(y.filter((v) => v === 6).length).toBeGreaterThan(1);
    expect(y.filter((v) => v === 0).length).toBeGreaterThan(1);
    // ∂ Σ y·w / ∂x through the cap: an output at 0 or 6 passes no gradient, so
    // perturbing only clipped inputs' upstream weight changes nothing.
    const w = tf.tensor4d([1, 2, 3, 4, 5, 6, 7, 8], [8, 1, 1, 1]);
    const w2 = tf.tensor4d(
      expected.map((e, i) => (e === 0 || e === 6 ? 100 : i + 1)),
      [8, 1, 1, 1],
    );
    const dx = tf
      .grad((xx: tf.Tensor) => tf.sum(tf.mul(f(xx), w)))(x)
      .dataSync();
    const dx2 = tf
      .grad((xx: tf.Tensor) => tf.sum(tf.mul(f(xx), w2)))(x)
      .dataSync();
    expect(maxAbsDiff(dx, dx2)).toBeLessThan(1e-4);
    tf.dispose([x, w, w2]);
  });

  it('leaves no tensors behind after a gradient', () => {
    run(true, true, 'relu');
    const before = tf.memory().numTensors;
    run(true, true, 'relu');
    run(true, false, 'relu');
    run(true, true, 'relu', true);
    run(true, true, 'relu6', true, 8);
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
    [false, 'none', false, 3],
    [true, 'relu', true, 3],
    [true, 'relu6', true, 3],
    [false, 'none', false, 8],
    [false, 'relu', false, 8],
    [true, 'none', false, 8],
    [true, 'relu', false, 8],
    [true, 'relu', true, 8],
    [false, 'relu6', false, 8],
    [true, 'relu6', true, 8],
  ] as const)(
    'fused on running statistics matches composed ops: residual=%s activation=%s mask=%s channels=%i',
    async (withResidual, activation, withMask, C) => {
      const shape = [3, 4, 4, C];
      const n = shape.reduce((a, b) => a * b);
      const run = (fusedKernel: boolean): Float32Array =>
        tf.tidy(() => {
          const x = tf.tensor(seeded(n, 12), shape);
          const g = channels(gains(activation), C);
          const b = channels([0.1, -0.2, 0.3], C);
          const stats = { mean: channels([0.3, -0.2, 0.1], C), variance: tf.abs(channels([0.5, 2, 1.2], C)) as tf.Tensor1D };
          const r = withResidual ? tf.tensor(seeded(n, 13), shape) : null;
          const m = withMask ? channels([1, 0.25, 0], C) : null;
          if (fusedKernel) return batchNormInference(x, g, b, stats, { epsilon: 1e-5, mask: m, residual: r, activation }).dataSync() as Float32Array;
          let y: tf.Tensor = tf.batchNorm(x, stats.mean, stats.variance, b, g, 1e-5);
          if (m !== null) y = tf.mul(y, m);
          if (r !== null) y = tf.add(y, r);
          return act(y, activation).dataSync() as Float32Array;
        });
      const reference = await onBackend('cpu', () => run(false));
      for (const backend of ['wasm', 'cpu']) expect(maxAbsDiff(await onBackend(backend, () => run(true)), reference)).toBeLessThan(1e-5);
    },
  );

  it.each([
    [true, 'relu', 8],
    [false, 'none', 8],
    [true, 'relu', 3],
    [true, 'relu6', 8],
    [false, 'relu6', 3],
  ] as const)(
    "fused on running statistics has the composed ops' gradients: residual and mask=%s activation=%s channels=%i",
    async (withExtras, activation, C) => {
      const shape = [2, 3, 3, C];
      const n = shape.reduce((a, b) => a * b);
      const run = (fusedKernel: boolean): Float32Array[] =>
        tf.tidy(() => {
          const x = tf.tensor(seeded(n, 14), shape);
          const g = channels(gains(activation), C);
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
            if (fusedKernel) y = batchNormInference(xx, gg, bb, { mean: mu, variance: vv }, { epsilon: 1e-5, mask, residual, activation });
            else {
              y = tf.batchNorm(xx, mu, vv, bb, gg, 1e-5);
              if (mask !== null) y = tf.mul(y, mask);
              if (residual !== null) y = tf.add(y, residual);
              y = act(y, activation);
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
    },
  );
});
