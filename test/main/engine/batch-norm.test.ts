import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
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

const shape: [number, number, number, number] = [4, 5, 5, 3];
const n = shape.reduce((a, b) => a * b);

function run(fused: boolean, withResidual: boolean, relu: boolean, withMask = false): Float32Array[] {
  return tf.tidy(() => {
    const x = tf.tensor(seeded(n, 1), shape);
    const g = tf.tensor1d([1.5, 0.5, -0.7]);
    const b = tf.tensor1d([0.1, -0.2, 0.3]);
    const r = tf.tensor(seeded(n, 3), shape);
    const up = tf.tensor(seeded(n, 4), shape);
    const m = tf.tensor1d([1, 0.25, 0]);
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
    [false, false, false],
    [false, true, false],
    [true, true, false],
    [false, false, true],
    [false, true, true],
    [true, true, true],
  ])('matches composed ops, residual=%s relu=%s mask=%s, values and all gradients', async (withResidual, relu, withMask) => {
    const reference = await onBackend('cpu', () => run(false, withResidual, relu, withMask));
    for (const backend of ['wasm', 'cpu']) {
      const got = await onBackend(backend, () => run(true, withResidual, relu, withMask));
      expect(got).toHaveLength(reference.length);
      reference.forEach((ref, i) => expect(maxAbsDiff(got[i]!, ref)).toBeLessThan(2e-4));
    }
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
