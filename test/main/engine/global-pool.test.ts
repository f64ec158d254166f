import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { globalAveragePool } from '../../../main/engine/global-pool.js';
import { onBackend, seeded, useWasmBackend } from '../../helpers/tf.js';

useWasmBackend();

/** The pool and its gradient for Σ r ⊙ pool(x), by our op or by tf.mean (the reference). */
function poolAndGrad(shape: [number, number, number, number], ours: boolean): [number[], number[]] {
  return tf.tidy(() => {
    const x = tf.tensor4d(
      seeded(
        shape.reduce((a, b) => a * b, 1),
        1,
      ),
      shape,
    );
    // Upstream gradients with exact zeros of both signs.
    const r = tf.tensor2d(
      seeded(shape[0] * shape[3], 2).map((v, i) => (i % 5 === 0 ? -0 : i % 5 === 1 ? 0 : v)),
      [shape[0], shape[3]],
    );
    const pool = (t: tf.Tensor): tf.Tensor => (ours ? globalAveragePool(t) : tf.mean(t, [1, 2]));
    const dx = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(pool(t), r)))(x);
    return [Array.from(pool(x).dataSync()), Array.from(dx.dataSync())];
  });
}

describe('global average pooling', () => {
  it.each([
    [2, 4, 4, 8],
    [3, 7, 7, 5],
    [1, 3, 5, 3],
    [64, 4, 4, 20],
  ] as const)('over [%i, %i, %i, %i]: tf.mean forward and its gradient, bit for bit, on wasm and on cpu', async (...shape) => {
    for (const backend of ['wasm', 'cpu']) {
      const [reference, ours] = await onBackend(backend, () => [poolAndGrad([...shape], false), poolAndGrad([...shape], true)]);
      expect(ours[0], `${backend} forward`).toEqual(reference[0]);
      expect(ours[1], `${backend} gradient`).toEqual(reference[1]);
    }
  });

  it('spreads the gradient with ones from the backend’s Fill kernel, not from an input-sized JavaScript array', async () => {
    const x = tf.randomNormal([8, 4, 4, 16]);
    const profile = await tf.profile(() => tf.grad((t: tf.Tensor) => tf.sum(globalAveragePool(t)))(x));
    const fills = profile.kernels.filter((k) => k.name === 'Fill' && JSON.stringify(k.outputShapes[0]) === '[8,4,4,16]');
    expect(fills).toHaveLength(1);
    x.dispose();
  });

  it('refuses a tensor that is not NHWC', () => {
    expect(() => globalAveragePool(tf.zeros([4, 3]))).toThrow(/expected an NHWC tensor, got shape \[4, 3\]/);
  });
});
