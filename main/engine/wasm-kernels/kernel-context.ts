import * as tf from '@tensorflow/tfjs';

/**
 * Runs wasm kernels directly on TensorInfos, freeing every intermediate, so a
 * composite kernel costs no tensors on the tape and leaks nothing.
 */
export class KernelContext {
  private readonly temps: tf.TensorInfo[] = [];

  constructor(readonly backend: tf.KernelBackend) {}

  private get heap(): HeapBackend {
    return this.backend as HeapBackend;
  }

  run(kernel: string, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap): tf.TensorInfo {
    const config = tf.getKernel(kernel, 'wasm');
    if (config === undefined) throw new Error(`wasm kernel ${kernel} is not registered`);
    const out = config.kernelFunc({ inputs, backend: this.backend, attrs }) as tf.TensorInfo;
    this.temps.push(out);
    return out;
  }

  /** Registers a tensor made outside `run` so `finish` frees it. */
  track(t: tf.TensorInfo): tf.TensorInfo {
    this.temps.push(t);
    return t;
  }

  /** A new float tensor, freed by `finish` unless it is the result; its memory is not cleared. */
  alloc(shape: number[]): tf.TensorInfo {
    return this.track(this.heap.makeOutput(shape, 'float32'));
  }

  /**
   * The tensor's memory. Allocating may grow (and move) the heap, so views
   * are taken after the last allocation they must outlive.
   */
  view(t: tf.TensorInfo): Float32Array {
    return this.heap.typedArrayFromHeap(t);
  }

  /**
   * Images [start, start + count) of an NHWC tensor: a contiguous range of
   * wasm memory, copied with one memmove (the Slice kernel is far slower).
   */
  batchRange(x: tf.TensorInfo, start: number, count: number): tf.TensorInfo {
    if (start === 0 && count === x.shape[0]) return x;
    const per = x.shape.slice(1).reduce((a, c) => a * c, 1);
    const out = this.alloc([count, ...x.shape.slice(1)]);
    this.view(out).set(this.view(x).subarray(start * per, (start + count) * per));
    return out;
  }

  /** Hands `result` to the caller and frees everything else this context made. */
  finish(result: tf.TensorInfo): tf.TensorInfo {
    for (const t of this.temps) if (t !== result) this.backend.disposeData(t.dataId);
    this.temps.length = 0;
    return result;
  }
}

type HeapBackend = tf.KernelBackend & {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array;
};

export type Conv2DPad = 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
