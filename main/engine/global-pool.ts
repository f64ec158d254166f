import * as tf from '@tensorflow/tfjs';

/**
 * Global average pooling, [b, h, w, c] → [b, c]: tfjs's mean over the
 * spatial axes, with its gradient dy / (h·w) spread over the pixels by a
 * product with ones from the backend's Fill kernel. tfjs's own Mean
 * gradient makes its tensor of ones the size of the input in JavaScript
 * (10 ms for the full path's pool at batch 64); the backend's broadcastTo
 * and Tile are slower still (125 ms). dy·1 / n and (dy / n)·1 are the same
 * float32 values, so the gradient is unchanged, bit for bit.
 */
export function globalAveragePool(x: tf.Tensor): tf.Tensor {
  if (x.rank !== 4) throw new Error(`globalAveragePool: expected an NHWC tensor, got shape [${x.shape.join(', ')}]`);
  const [b, h, w, c] = x.shape as [number, number, number, number];
  const pool = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const input = args[0];
    if (!(input instanceof tf.Tensor)) throw new Error('globalAveragePool: no input tensor');
    return {
      value: tf.mean(input, [1, 2]),
      gradFunc: (dy: tf.Tensor | tf.Tensor[]) => tf.mul(tf.div(tf.reshape(Array.isArray(dy) ? dy[0]! : dy, [b, 1, 1, c]), h * w), tf.fill([b, h, w, c], 1)),
    };
  });
  return pool(x);
}
