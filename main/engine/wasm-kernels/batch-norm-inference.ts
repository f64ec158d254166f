import type * as tf from '@tensorflow/tfjs';
import { batchNormSimd } from './batch-norm-simd.js';
import { heapOf } from './wasm-runtime.js';

type HeapBackend = tf.KernelBackend & {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array;
};

/**
 * The wasm FusedBatchNorm kernel (inference: the running statistics): one
 * SIMD pass y = x·mul + add with per-channel factors, when the statistics
 * and parameters are per-channel vectors and the channels come in fours;
 * the backend's own kernel, a scalar loop about seven times slower,
 * otherwise. Evaluation spent a quarter of its time there.
 */
export function simdInferenceBatchNorm(original: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { x, mean, variance, offset, scale } = args.inputs as Record<string, tf.TensorInfo | undefined>;
    const { varianceEpsilon } = args.attrs as unknown as { varianceEpsilon: number };
    const C = x!.shape[x!.shape.length - 1] ?? 0;
    const perChannel = [mean, variance, offset, scale].every((t) => t === undefined || (t.shape.length === 1 && t.shape[0] === C));
    const memory = perChannel && C > 0 && C % 4 === 0 && x!.dtype === 'float32' ? heapOf(args.backend as tf.KernelBackend) : null;
    const simd = memory === null ? null : batchNormSimd(memory);
    if (simd === null) return original(args);
    const backend = args.backend as HeapBackend;
    const out = backend.makeOutput(x!.shape, 'float32');
    const table = backend.makeOutput([2 * C], 'float32');
    try {
      const read = (t: tf.TensorInfo | undefined): Float32Array | null => (t === undefined ? null : backend.typedArrayFromHeap(t));
      const [m, v, b, g] = [read(mean)!, read(variance)!, read(offset), read(scale)];
      const factors = backend.typedArrayFromHeap(table);
      for (let c = 0; c < C; c++) {
        const k = (g === null ? 1 : g[c]!) / Math.sqrt(v[c]! + varianceEpsilon);
        factors[c] = k;
        factors[C + c] = (b === null ? 0 : b[c]!) - m[c]! * k;
      }
      const at = (t: tf.TensorInfo): number => backend.typedArrayFromHeap(t).byteOffset;
      const total = x!.shape.reduce((p, d) => p * d, 1);
      simd.normalize({ activation: 'none', residual: false })(at(x!), 0, at(out), at(table), 4 * total, 4 * C);
    } finally {
      backend.disposeData(table.dataId);
    }
    return out;
  };
}
