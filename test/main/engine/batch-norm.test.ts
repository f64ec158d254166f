import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { ioFor, passesFor } from '../../../main/engine/batch-norm-passes.js';
import { batchNormTrain } from '../../../main/engine/batch-norm.js';
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
    const x = tf.tensor4d(values.flatMap((v) => [v, v, v, v]), [16, 16, 16, 4]);
    const { variance } = batchNormTrain(x, tf.ones([4]) as tf.Tensor1D, tf.zeros([4]) as tf.Tensor1D, { epsilon: 1e-5 });
    for (const v of variance.dataSync()) expect(v).toBeCloseTo(1.25, 3);
  });

  it('returns the biased batch statistics', () => {
    const x = tf.tensor4d([1, 2, 3, 5], [1, 2, 2, 1]);
    const { mean, variance } = batchNormTrain(x, tf.ones([1]) as tf.Tensor1D, tf.zeros([1]) as tf.Tensor1D, { epsilon: 1e-5 });
    expect(mean.dataSync()[0]).toBeCloseTo(2.75, 6);
    expect(variance.dataSync()[0]).toBeCloseTo(((1.75 ** 2 + 0.75 ** 2 + 0.25 ** 2 + 2.25 ** 2) / 4), 6);
  });

  it('leaves no tensors behind after a gradient', () => {
    run(true, true, true);
    const before = tf.memory().numTensors;
    run(true, true, true);
    run(true, false, true);
    run(true, true, true, true);
    expect(tf.memory().numTensors).toBe(before);
  });
});
