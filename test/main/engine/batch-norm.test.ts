import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { batchNormTrain } from '../../../main/engine/batch-norm.js';
import { maxAbsDiff, onBackend, seeded, useWasmBackend } from '../../helpers/tf.js';

useWasmBackend();

/** relu?(bn(x) + r?) composed from plain tfjs ops, the reference. */
function composed(x: tf.Tensor, g: tf.Tensor1D, b: tf.Tensor1D, r: tf.Tensor | null, relu: boolean): tf.Tensor {
  const { mean, variance } = tf.moments(x, [0, 1, 2]);
  let y = tf.batchNorm(x, mean, variance, b, g, 1e-5);
  if (r !== null) y = tf.add(y, r);
  return relu ? tf.relu(y) : y;
}

const shape: [number, number, number, number] = [4, 5, 5, 3];
const n = shape.reduce((a, b) => a * b);

function run(fused: boolean, withResidual: boolean, relu: boolean): Float32Array[] {
  return tf.tidy(() => {
    const x = tf.tensor(seeded(n, 1), shape);
    const g = tf.tensor1d([1.5, 0.5, -0.7]);
    const b = tf.tensor1d([0.1, -0.2, 0.3]);
    const r = tf.tensor(seeded(n, 3), shape);
    const up = tf.tensor(seeded(n, 4), shape);
    const f = (xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor, rr?: tf.Tensor): tf.Scalar => {
      const res = withResidual ? rr! : null;
      const y = fused
        ? batchNormTrain(xx, gg as tf.Tensor1D, bb as tf.Tensor1D, { epsilon: 1e-5, residual: res, relu }).y
        : composed(xx, gg as tf.Tensor1D, bb as tf.Tensor1D, res, relu);
      return tf.sum(tf.mul(y, up));
    };
    const value = f(x, g, b, r);
    const grads = tf.grads(f as (...a: tf.Tensor[]) => tf.Tensor)(withResidual ? [x, g, b, r] : [x, g, b]);
    return [value.dataSync() as Float32Array, ...grads.map((t) => t.dataSync() as Float32Array)];
  });
}

describe('fused training batch norm', () => {
  it.each([
    [false, false],
    [false, true],
    [true, true],
  ])('matches composed ops, residual=%s relu=%s, values and all gradients', async (withResidual, relu) => {
    const reference = await onBackend('cpu', () => run(false, withResidual, relu));
    for (const backend of ['wasm', 'cpu']) {
      const got = await onBackend(backend, () => run(true, withResidual, relu));
      reference.forEach((ref, i) => {
        if (!withResidual && i === 4) return;
        expect(maxAbsDiff(got[i]!, ref)).toBeLessThan(2e-4);
      });
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
    expect(tf.memory().numTensors).toBe(before);
  });
});
