import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { maxAbsDiff, onBackend, seeded, useWasmBackend } from '../../helpers/tf.js';

useWasmBackend();

type Shape4 = [number, number, number, number];

/** y and the gradients of Σ r ⊙ depthwise(x, w) with respect to x and w. */
function train(x: Shape4, k: number, stride: number): Float32Array[] {
  return tf.tidy(() => {
    const xt = tf.tensor4d(
      seeded(
        x.reduce((a, b) => a * b, 1),
        3,
      ),
      x,
    );
    const wt = tf.tensor4d(seeded(k * k * x[3], 4), [k, k, x[3], 1]);
    const y = tf.depthwiseConv2d(xt, wt, stride, 'same');
    const r = tf.tensor(seeded(y.size, 5), y.shape);
    const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, stride, 'same'), r)))([
      xt,
      wt,
    ]);
    return [y, dx!, dw!].map((t) => t.dataSync() as Float32Array);
  });
}

describe('depthwise kernels by channel blocks', () => {
  // Sixteen channels at a time, then one block of twelve, eight or four, then single floats:
  // the small path's 12 and 24 (16 + 8), MobileNetV2's 84 and 132 (16s + 4), and mixed remainders.
  it.each([8, 12, 24, 28, 44, 60, 84, 132, 13, 30, 47])('with %i channels train as the cpu backend does: output, input and filter gradients', async (C) => {
    for (const [x, k, stride] of [
      [[2, 7, 7, C], 3, 1],
      [[2, 8, 8, C], 3, 2],
      [[1, 5, 6, C], 5, 1],
    ] as const) {
      const ref = await onBackend('cpu', () => train([...x], k, stride));
      const got = train([...x], k, stride);
      ref.forEach((r, i) => {
        const scale = Math.max(1, ...Array.from(r, Math.abs));
        expect(maxAbsDiff(got[i]!, r) / scale, `x=${x} k=${k} stride=${stride}, output ${i}`).toBeLessThan(1e-5);
      });
    }
  });
});
