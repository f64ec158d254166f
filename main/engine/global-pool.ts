import * as tf from '@tensorflow/tfjs';

/**
 * Global average pooling, [b, h, w, c] → [b, c]: tfjs's mean over the
 * spatial axes, with its gradient as a broadcast of dy / (h·w). tfjs's own
 * Mean gradient builds a tensor of ones the size of the input in JavaScript
 * and multiplies by it (8 ms of an adjoined MobileNetV2 step went into
 * filling those arrays, for its two paths' pools); dy·1 / n and dy / n are
 * the same float32 values, so the gradient is unchanged, bit for bit.
 */
export function globalAveragePool(x: tf.Tensor): tf.Tensor {
  if (x.rank !== 4) throw new Error(`globalAveragePool: expected an NHWC tensor, got shape [${x.shape.join(', ')}]`);
  const [b, h, w, c] = x.shape as [number, number, number, number];
  const pool = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const input = args[0];
    if (!(input instanceof tf.Tensor)) throw new Error('globalAveragePool: no input tensor');
    return {
      value: tf.mean(input, [1, 2]),
      gradFunc: (dy: tf.Tensor | tf.Tensor[]) => tf.broadcastTo(tf.div(tf.reshape(Array.isArray(dy) ? dy[0]! : dy, [b, 1, 1, c]), h * w), [b, h, w, c]),
    };
  });
  return pool(x);
}
