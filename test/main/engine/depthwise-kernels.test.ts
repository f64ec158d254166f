import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { depthwiseBackpropFilter, depthwiseBackpropInput, depthwiseForward, type DepthwiseMethod } from '../../../main/engine/wasm-kernels/depthwise.js';
import { depthwiseSimd } from '../../../main/engine/wasm-kernels/depthwise-simd.js';
import { heapOf } from '../../../main/engine/wasm-kernels/wasm-runtime.js';
import { maxAbsDiff, onBackend, seeded, useWasmBackend } from '../../helpers/tf.js';

useWasmBackend();

type Pad = 'same' | 'valid' | tf.backend_util.ExplicitPadding;
type Shape4 = [number, number, number, number];
interface Case {
  x: Shape4;
  /** [kh, kw]: the filter is [kh, kw, channels, 1]. */
  k: [number, number];
  stride: number;
  pad: Pad;
}

const explicit = (top: number, bottom: number, left: number, right: number): Pad => [
  [0, 0],
  [top, bottom],
  [left, right],
  [0, 0],
];

// Channel counts in sixteens, fours and neither (the SIMD loops take 16, then 4, then 1 at a time),
// strides 1 and 2 (MobileNetV2's), 'same', 'valid' and explicit padding, square and non-square filters.
const cases: Case[] = [
  { x: [2, 7, 7, 16], k: [3, 3], stride: 1, pad: explicit(1, 1, 1, 1) },
  { x: [2, 8, 8, 32], k: [3, 3], stride: 2, pad: explicit(1, 1, 1, 1) },
  { x: [2, 7, 7, 24], k: [3, 3], stride: 2, pad: 'same' },
  { x: [3, 6, 5, 3], k: [3, 3], stride: 1, pad: 'same' },
  { x: [2, 9, 9, 5], k: [3, 3], stride: 2, pad: 'valid' },
  { x: [1, 9, 8, 1], k: [5, 5], stride: 1, pad: 'same' },
  { x: [2, 10, 10, 20], k: [2, 3], stride: 2, pad: 'same' },
  { x: [2, 8, 8, 36], k: [1, 1], stride: 2, pad: 'valid' },
  { x: [1, 6, 7, 17], k: [3, 3], stride: 2, pad: explicit(4, 4, 3, 5) },
  { x: [2, 5, 5, 6], k: [3, 5], stride: 1, pad: explicit(0, 2, 2, 0) },
  { x: [1, 11, 11, 19], k: [4, 4], stride: 3, pad: 'same' },
  // Larger, as a MobileNetV2 expansion at 14×14 with training's batch sizes gives.
  { x: [16, 14, 14, 48], k: [3, 3], stride: 1, pad: explicit(1, 1, 1, 1) },
];

const filterShape = (c: Case): Shape4 => [c.k[0], c.k[1], c.x[3], 1];
const sizeOf = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);

/** y and the gradients of Σ r ⊙ depthwise(x, w) with respect to x and w, on the current backend. */
function depthwiseAll(xv: Float32Array, wv: Float32Array, c: Case): [Float32Array, Float32Array, Float32Array] {
  return tf.tidy(() => {
    const x = tf.tensor4d(xv, c.x);
    const w = tf.tensor4d(wv, filterShape(c));
    const y = tf.depthwiseConv2d(x, w, c.stride, c.pad);
    const r = tf.tensor(seeded(y.size, 7), y.shape);
    const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.stride, c.pad), r)))([
      x,
      w,
    ]);
    return [y.dataSync() as Float32Array, dx!.dataSync() as Float32Array, dw!.dataSync() as Float32Array];
  });
}

const scaleOf = (ref: Float32Array): number => ref.reduce((m, v) => Math.max(m, Math.abs(v)), 1);

async function againstCpu(c: Case, seed: number): Promise<void> {
  const xv = seeded(sizeOf(c.x), seed);
  const wv = seeded(sizeOf(filterShape(c)), seed + 1000);
  const [yRef, dxRef, dwRef] = await onBackend('cpu', () => depthwiseAll(xv, wv, c));
  const [y, dx, dw] = depthwiseAll(xv, wv, c);
  const label = JSON.stringify(c);
  expect(maxAbsDiff(y, yRef) / scaleOf(yRef), `forward ${label}`).toBeLessThan(1e-5);
  expect(maxAbsDiff(dx, dxRef) / scaleOf(dxRef), `input gradient ${label}`).toBeLessThan(1e-5);
  expect(maxAbsDiff(dw, dwRef) / scaleOf(dwRef), `filter gradient ${label}`).toBeLessThan(1e-5);
}

describe('wasm depthwise convolution kernels', () => {
  it('are SIMD loop nests on this engine', () => {
    expect(depthwiseSimd(heapOf(tf.backend())!)).not.toBeNull();
  });

  it.each(cases)('train as the cpu backend does (forward, input and filter gradients): x=$x k=$k stride=$stride pad=$pad', async (c) => {
    await againstCpu(c, 1);
  });

  it.each(cases.slice(0, 11))('give the same results by either method, SIMD loops and their JavaScript twins: x=$x k=$k stride=$stride', async (c) => {
    const attrs = { strides: c.stride, pad: c.pad, dilations: 1, dataFormat: 'NHWC' } as unknown as tf.NamedAttrMap;
    const xv = seeded(sizeOf(c.x), 3);
    const wv = seeded(sizeOf(filterShape(c)), 4);
    const out = tf.backend_util.computeConv2DInfo(c.x, filterShape(c), c.stride, 1, c.pad, undefined, true).outShape;
    const dyv = seeded(sizeOf(out), 5);
    const [x, w, dy] = [tf.tensor4d(xv, c.x), tf.tensor4d(wv, filterShape(c)), tf.tensor4d(dyv, out)];
    const [yRef, dxRef, dwRef] = await onBackend('cpu', () => [
      tf.depthwiseConv2d(tf.tensor4d(xv, c.x), tf.tensor4d(wv, filterShape(c)), c.stride, c.pad).dataSync() as Float32Array,
      tf
        .grad((a: tf.Tensor) => tf.sum(tf.mul(tf.depthwiseConv2d(a as tf.Tensor4D, tf.tensor4d(wv, filterShape(c)), c.stride, c.pad), tf.tensor4d(dyv, out))))(
          tf.tensor4d(xv, c.x),
        )
        .dataSync() as Float32Array,
      tf
        .grad((b: tf.Tensor) => tf.sum(tf.mul(tf.depthwiseConv2d(tf.tensor4d(xv, c.x), b as tf.Tensor4D, c.stride, c.pad), tf.tensor4d(dyv, out))))(
          tf.tensor4d(wv, filterShape(c)),
        )
        .dataSync() as Float32Array,
    ]);
    const read = (info: tf.TensorInfo): Float32Array => {
      const t = tf.engine().makeTensorFromTensorInfo(info);
      const v = t.dataSync() as Float32Array;
      t.dispose();
      return v;
    };
    const backend = tf.backend();
    for (const method of ['simd', 'js'] as DepthwiseMethod[]) {
      const y = read(depthwiseForward({ inputs: { x, filter: w }, backend, attrs }, method));
      const dx = read(depthwiseBackpropInput({ inputs: { dy, filter: w }, backend, attrs: { ...attrs, inputShape: c.x } }, method));
      const dw = read(depthwiseBackpropFilter({ inputs: { x, dy }, backend, attrs: { ...attrs, filterShape: filterShape(c) } }, method));
      expect(maxAbsDiff(y, yRef!) / scaleOf(yRef!), `${method} forward`).toBeLessThan(1e-5);
      expect(maxAbsDiff(dx, dxRef!) / scaleOf(dxRef!), `${method} input gradient`).toBeLessThan(1e-5);
      expect(maxAbsDiff(dw, dwRef!) / scaleOf(dwRef!), `${method} filter gradient`).toBeLessThan(1e-5);
    }
    tf.dispose([x, w, dy]);
  });

  it('agree with the cpu backend on 60 random depthwise convolutions: forward, input and filter gradients', async () => {
    // Shapes drawn from a fixed seed: 1–3 images of 1–11 × 1–11 pixels, 1–40 channels (a third of
    // them in sixteens, a third in fours), kernels 1–5 (not always square), strides 1–3, 'same',
    // 'valid' or explicit uneven padding — wherever the output is not empty.
    const draw = seeded(4000, 77);
    let k = 0;
    const pick = (lo: number, hi: number): number => lo + Math.floor(((draw[k++]! + 1) / 2) * (hi - lo + 1));
    let tried = 0;
    while (tried < 60) {
      const kind = pick(0, 2);
      const channels = kind === 0 ? 16 * pick(1, 2) : kind === 1 ? 4 * pick(1, 10) : pick(1, 40);
      const x: Shape4 = [pick(1, 3), pick(1, 11), pick(1, 11), channels];
      const kh = pick(1, 5);
      const c: Case = {
        x,
        k: [kh, pick(0, 1) === 0 ? kh : pick(1, 5)],
        stride: pick(1, 3),
        pad: [() => 'same' as const, () => 'valid' as const, () => explicit(pick(0, 3), pick(0, 3), pick(0, 3), pick(0, 3))][pick(0, 2)]!(),
      };
      const info = tf.backend_util.computeConv2DInfo(x, filterShape(c), c.stride, 1, c.pad, undefined, true);
      if (info.outHeight < 1 || info.outWidth < 1) continue;
      tried++;
      await againstCpu(c, 10 + tried);
    }
  });

  it('leave no tensors behind', () => {
    const c = cases[0]!;
    const xv = seeded(sizeOf(c.x), 1);
    const wv = seeded(sizeOf(filterShape(c)), 2);
    depthwiseAll(xv, wv, c);
    const before = tf.memory().numTensors;
    depthwiseAll(xv, wv, c);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('refuse a channel multiplier other than 1, saying so, where the backend has no gradient to fall back on', () => {
    const x = tf.tensor4d(seeded(2 * 5 * 5 * 3, 1), [2, 5, 5, 3]);
    const w = tf.tensor4d(seeded(3 * 3 * 3 * 2, 2), [3, 3, 3, 2]);
    // The forward pass falls back to XNNPACK's kernel; the gradient has none.
    expect(tf.depthwiseConv2d(x, w, 1, 'same').shape).toEqual([2, 5, 5, 6]);
    expect(() => tf.grad((a: tf.Tensor) => tf.sum(tf.depthwiseConv2d(a as tf.Tensor4D, w, 1, 'same')))(x)).toThrow(/channel multiplier 2/);
    tf.dispose([x, w]);
  });
});
