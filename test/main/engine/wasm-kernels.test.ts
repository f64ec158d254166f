import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { copyChannels } from '../../../main/engine/wasm-kernels/channel-rows.js';
import { addRows } from '../../../main/engine/wasm-kernels/row-sums.js';
import { conv2dBackpropFilter } from '../../../main/engine/wasm-kernels/conv2d-backprop-filter.js';
import { conv2dSimd } from '../../../main/engine/wasm-kernels/conv2d-simd.js';
import { filterGradientSimd } from '../../../main/engine/wasm-kernels/filter-gradient-simd.js';
import { heapOf } from '../../../main/engine/wasm-kernels/wasm-runtime.js';
import { maxAbsDiff, onBackend, seeded, useWasmBackend } from '../../helpers/tf.js';

useWasmBackend();

type Pad = 'same' | 'valid' | tf.backend_util.ExplicitPadding;
const cases: Array<{ x: [number, number, number, number]; f: [number, number, number, number]; stride: number; pad: Pad }> = [
  { x: [2, 7, 7, 3], f: [3, 3, 3, 5], stride: 1, pad: 'same' },
  { x: [2, 8, 8, 3], f: [3, 3, 3, 5], stride: 2, pad: 'same' },
  { x: [2, 7, 7, 3], f: [3, 3, 3, 5], stride: 2, pad: 'same' },
  { x: [2, 9, 9, 4], f: [1, 1, 4, 6], stride: 2, pad: 'valid' },
  {
    x: [3, 11, 11, 3],
    f: [7, 7, 3, 4],
    stride: 2,
    pad: [
      [0, 0],
      [3, 3],
      [3, 3],
      [0, 0],
    ],
  },
  {
    x: [2, 10, 10, 2],
    f: [3, 3, 2, 3],
    stride: 1,
    pad: [
      [0, 0],
      [1, 1],
      [1, 1],
      [0, 0],
    ],
  },
  // The input gradient takes one convolution per stride phase: odd sizes, even kernels,
  // stride 3, a padding wider than the kernel reaches (dy cropped), rows no tap reaches.
  { x: [2, 9, 9, 3], f: [3, 3, 3, 4], stride: 2, pad: 'valid' },
  { x: [2, 8, 8, 3], f: [1, 1, 3, 4], stride: 1, pad: 'valid' },
  { x: [2, 10, 10, 2], f: [3, 3, 2, 3], stride: 3, pad: 'same' },
  { x: [2, 10, 10, 2], f: [2, 2, 2, 3], stride: 2, pad: 'same' },
  {
    x: [1, 6, 7, 2],
    f: [3, 3, 2, 2],
    stride: 2,
    pad: [
      [0, 0],
      [4, 4],
      [3, 5],
      [0, 0],
    ],
  },
  { x: [2, 11, 11, 2], f: [1, 1, 2, 3], stride: 3, pad: 'valid' },
  // Channels in sixteens: the SIMD convolution serves the forward pass and
  // (through its per-phase convolutions) the input gradient, the loop nest the filter gradient.
  { x: [2, 9, 9, 16], f: [3, 3, 16, 32], stride: 1, pad: 'same' },
  { x: [2, 9, 9, 16], f: [3, 3, 16, 16], stride: 2, pad: 'same' },
  { x: [3, 7, 6, 32], f: [1, 1, 32, 16], stride: 2, pad: 'valid' },
  {
    x: [1, 11, 10, 16],
    f: [5, 4, 16, 16],
    stride: 3,
    pad: [
      [0, 0],
      [2, 3],
      [1, 4],
      [0, 0],
    ],
  },
  { x: [2, 9, 9, 8], f: [3, 3, 8, 12], stride: 2, pad: 'same' },
  // A batch as large as training uses, the patch matrix built in one piece.
  {
    x: [16, 28, 28, 16],
    f: [3, 3, 16, 16],
    stride: 1,
    pad: [
      [0, 0],
      [1, 1],
      [1, 1],
      [0, 0],
    ],
  },
];

/** Gradients of Σ r ⊙ conv(x, w) with respect to x and w. */
function convGrads(xv: Float32Array, wv: Float32Array, c: (typeof cases)[number]): [Float32Array, Float32Array] {
  return tf.tidy(() => {
    const x = tf.tensor4d(xv, c.x);
    const w = tf.tensor4d(wv, c.f);
    const y = tf.conv2d(x, w, c.stride, c.pad);
    const r = tf.tensor(seeded(y.size, 7), y.shape);
    const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.stride, c.pad), r)))([x, w]);
    return [dx!.dataSync() as Float32Array, dw!.dataSync() as Float32Array];
  });
}

/**
 * Seeded x and output gradient dy for a convolution (as wasm tensors) and the
 * cpu backend's filter gradient: ∂/∂w Σ dy ⊙ conv(x, w).
 */
async function filterGradientCase(
  xShape: number[],
  f: number[],
  stride: number,
  pad: Pad,
  seed: number,
): Promise<{ x: tf.Tensor4D; dy: tf.Tensor4D; dyShape: [number, number, number, number]; ref: Float32Array }> {
  const xs = xShape as [number, number, number, number];
  const xv = seeded(
    xs.reduce((a, b) => a * b),
    seed,
  );
  const dyShape = tf.backend_util.computeConv2DInfo(xs, f as [number, number, number, number], stride, 1, pad).outShape;
  const dyv = seeded(
    dyShape.reduce((a, b) => a * b),
    seed + 1,
  );
  const ref = await onBackend('cpu', () =>
    tf.tidy(() => {
      const xt = tf.tensor4d(xv, xs);
      const r = tf.tensor4d(dyv, dyShape);
      return tf
        .grad((v: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(xt, v as tf.Tensor4D, stride, pad), r)))(tf.zeros(f))
        .dataSync() as Float32Array;
    }),
  );
  return { x: tf.tensor4d(xv, xs), dy: tf.tensor4d(dyv, dyShape), dyShape, ref };
}

describe('wasm convolution gradients', () => {
  it.each(cases)('match the cpu backend for x=$x f=$f stride=$stride pad=$pad', async (c) => {
    const xv = seeded(
      c.x.reduce((a, b) => a * b),
      1,
    );
    const wv = seeded(
      c.f.reduce((a, b) => a * b),
      2,
    );
    const [dxRef, dwRef] = await onBackend('cpu', () => convGrads(xv, wv, c));
    const [dx, dw] = convGrads(xv, wv, c);
    const scale = Math.max(1, ...Array.from(dwRef, Math.abs));
    expect(maxAbsDiff(dx, dxRef)).toBeLessThan(1e-4);
    expect(maxAbsDiff(dw, dwRef) / scale).toBeLessThan(1e-5);
  });

  it.each([
    { x: [2, 7, 7, 3], f: [3, 3, 3, 16], stride: 1, pad: 'same' as Pad },
    { x: [2, 8, 8, 4], f: [3, 3, 4, 32], stride: 2, pad: 'same' as Pad },
    { x: [2, 9, 9, 2], f: [1, 1, 2, 16], stride: 2, pad: 'valid' as Pad },
    {
      x: [3, 11, 11, 3],
      f: [7, 7, 3, 16],
      stride: 2,
      pad: [
        [0, 0],
        [3, 3],
        [3, 3],
        [0, 0],
      ] as Pad,
    },
    { x: [2, 10, 10, 5], f: [3, 3, 5, 16], stride: 3, pad: 'same' as Pad },
    {
      x: [1, 6, 7, 2],
      f: [3, 3, 2, 16],
      stride: 2,
      pad: [
        [0, 0],
        [4, 4],
        [3, 5],
        [0, 0],
      ] as Pad,
    },
    { x: [2, 5, 6, 1], f: [2, 3, 1, 48], stride: 1, pad: 'valid' as Pad },
    // Output channels in fours: tiles of 16, then 8, then 4.
    { x: [2, 7, 7, 3], f: [3, 3, 3, 28], stride: 1, pad: 'same' as Pad },
    { x: [2, 8, 8, 5], f: [3, 3, 5, 8], stride: 2, pad: 'same' as Pad },
    { x: [1, 6, 6, 2], f: [3, 3, 2, 4], stride: 1, pad: 'valid' as Pad },
    // Other counts, the loop nest on dy padded to fours: a small path's 1×1 projections to 14 and 22 channels, and 1, 3, 5, 6.
    { x: [4, 7, 7, 84], f: [1, 1, 84, 14], stride: 1, pad: 'valid' as Pad },
    { x: [3, 4, 4, 132], f: [1, 1, 132, 22], stride: 1, pad: 'valid' as Pad },
    { x: [2, 7, 7, 3], f: [3, 3, 3, 1], stride: 1, pad: 'same' as Pad },
    { x: [2, 8, 8, 5], f: [3, 3, 5, 3], stride: 2, pad: 'same' as Pad },
    { x: [1, 6, 7, 2], f: [2, 3, 2, 5], stride: 1, pad: 'valid' as Pad },
    { x: [2, 9, 9, 4], f: [3, 3, 4, 6], stride: 3, pad: 'same' as Pad },
  ])(
    'give the cpu filter gradient by either method, the SIMD loop nest and the patch product: x=$x f=$f stride=$stride',
    async ({ x: xShape, f, stride, pad }) => {
      const { x, dy, ref } = await filterGradientCase(xShape, f, stride, pad, 5);
      const attrs = { strides: stride, pad, filterShape: f, dataFormat: 'NHWC' } as unknown as tf.NamedAttrMap;
      const scale = Math.max(1, ...Array.from(ref, Math.abs));
      // The loop nest is there to be used (it would fall back to the patch product without it).
      expect(filterGradientSimd(heapOf(tf.backend())!)).not.toBeNull();
      for (const method of ['direct', 'patches'] as const) {
        const dw = tf.engine().makeTensorFromTensorInfo(conv2dBackpropFilter({ inputs: { x, dy }, backend: tf.backend(), attrs }, undefined, method));
        expect(maxAbsDiff(dw.dataSync() as Float32Array, ref) / scale, method).toBeLessThan(1e-5);
        dw.dispose();
      }
      tf.dispose([x, dy]);
    },
  );

  it.each([
    { x: [5, 9, 9, 3], f: [3, 3, 3, 4], stride: 1, pad: 'same' as const },
    { x: [5, 9, 9, 3], f: [3, 3, 3, 4], stride: 2, pad: 'same' as const },
  ])('give the same filter gradient when the patch matrix is built a few images at a time (stride $stride)', async ({ x: xShape, f, stride, pad }) => {
    const { x, dy, dyShape, ref } = await filterGradientCase(xShape, f, stride, pad, 3);
    const rowsPerImage = f[0]! * f[1]! * f[2]! * dyShape[1] * dyShape[2];
    const attrs = { strides: stride, pad, filterShape: f, dataFormat: 'NHWC' } as unknown as tf.NamedAttrMap;
    // Two images per piece: three pieces for five images, the last one short.
    const info = conv2dBackpropFilter({ inputs: { x, dy }, backend: tf.backend(), attrs }, 2 * rowsPerImage);
    const dw = tf.engine().makeTensorFromTensorInfo(info);
    const scale = Math.max(1, ...Array.from(ref, Math.abs));
    expect(maxAbsDiff(dw.dataSync() as Float32Array, ref) / scale).toBeLessThan(1e-5);
    tf.dispose([x, dy, dw]);
  });

  it('leave no tensors behind', () => {
    const before = tf.memory().numTensors;
    const c = cases[cases.length - 1]!;
    convGrads(
      seeded(
        c.x.reduce((a, b) => a * b),
        1,
      ),
      seeded(
        c.f.reduce((a, b) => a * b),
        2,
      ),
      c,
    );
    expect(tf.memory().numTensors).toBe(before);
  });

  it.each([
    { x: [2, 7, 7, 3], f: [3, 3, 3, 16], stride: 1, pad: 'same' as Pad },
    { x: [2, 8, 9, 5], f: [3, 3, 5, 32], stride: 2, pad: 'same' as Pad },
    { x: [1, 9, 9, 16], f: [1, 1, 16, 16], stride: 2, pad: 'valid' as Pad },
    {
      x: [2, 11, 11, 3],
      f: [7, 7, 3, 16],
      stride: 2,
      pad: [
        [0, 0],
        [3, 3],
        [3, 3],
        [0, 0],
      ] as Pad,
    },
    {
      x: [1, 4, 4, 8],
      f: [3, 3, 8, 48],
      stride: 1,
      pad: [
        [0, 0],
        [4, 1],
        [0, 5],
        [0, 0],
      ] as Pad,
    },
    { x: [2, 3, 2, 4], f: [5, 5, 4, 16], stride: 1, pad: 'same' as Pad },
    // Output channels in fours: tiles of 16, then 8, then 4.
    { x: [2, 7, 7, 3], f: [3, 3, 3, 28], stride: 1, pad: 'same' as Pad },
    { x: [2, 8, 9, 6], f: [3, 3, 6, 8], stride: 2, pad: 'same' as Pad },
    { x: [1, 6, 6, 2], f: [1, 1, 2, 4], stride: 1, pad: 'valid' as Pad },
    { x: [2, 5, 5, 4], f: [3, 3, 4, 12], stride: 1, pad: 'same' as Pad },
    // Other counts run padded to fours and are compacted: a small path's 14 and 22, and 1 and 7.
    { x: [2, 7, 7, 84], f: [1, 1, 84, 14], stride: 1, pad: 'valid' as Pad },
    { x: [2, 4, 4, 132], f: [1, 1, 132, 22], stride: 1, pad: 'valid' as Pad },
    { x: [2, 5, 6, 3], f: [3, 3, 3, 1], stride: 2, pad: 'same' as Pad },
    { x: [1, 6, 5, 4], f: [3, 2, 4, 7], stride: 1, pad: 'valid' as Pad },
  ])('convolve forward as the cpu backend does: x=$x f=$f stride=$stride pad=$pad', async ({ x: xShape, f, stride, pad }) => {
    expect(conv2dSimd(heapOf(tf.backend())!)).not.toBeNull();
    const xv = seeded(
      xShape.reduce((a, b) => a * b),
      8,
    );
    const wv = seeded(
      f.reduce((a, b) => a * b),
      9,
    );
    const conv = (): Float32Array =>
      tf.tidy(
        () =>
          tf
            .conv2d(tf.tensor4d(xv, xShape as [number, number, number, number]), tf.tensor4d(wv, f as [number, number, number, number]), stride, pad)
            .dataSync() as Float32Array,
      );
    const ref = await onBackend('cpu', conv);
    const got = conv();
    expect(got).toHaveLength(ref.length);
    expect(maxAbsDiff(got, ref)).toBeLessThan(1e-5 * Math.max(1, ...Array.from(ref, Math.abs)));
  });

  it('clone without copying, and the clone outlives the original', () => {
    const x = tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3]);
    const y = tf.clone(x);
    expect(y.dataId).toBe(x.dataId);
    x.dispose();
    expect(Array.from(y.dataSync())).toEqual([1, 2, 3, 4, 5, 6]);
    // The saved-for-backward clones behave: gradients through a clone are the input's.
    const v = tf.tensor1d([2, -3]);
    const g = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.clone(a), a)))(v);
    expect(Array.from(g.dataSync())).toEqual([4, -6]);
    tf.dispose([y, v, g]);
  });

  it('agree with the cpu backend on 60 random convolutions: forward, input and filter gradients', async () => {
    // Shapes drawn from a fixed seed: 1–3 images of 1–9 × 1–9 pixels, 1–9 input channels,
    // 1–24 output channels (half of them in fours, the SIMD filter gradient's case), kernels
    // 1–5, strides 1–3, 'same', 'valid' or explicit uneven padding — wherever the output is not empty.
    const draw = seeded(4000, 42);
    let k = 0;
    const pick = (lo: number, hi: number): number => lo + Math.floor(((draw[k++]! + 1) / 2) * (hi - lo + 1));
    let tried = 0;
    while (tried < 60) {
      const x: [number, number, number, number] = [pick(1, 3), pick(1, 9), pick(1, 9), pick(1, 9)];
      const f: [number, number, number, number] = [pick(1, 5), pick(1, 5), x[3], pick(0, 1) === 0 ? 4 * pick(1, 6) : pick(1, 9)];
      const stride = pick(1, 3);
      const padKind = pick(0, 2);
      const pad: Pad =
        padKind === 0
          ? 'same'
          : padKind === 1
            ? 'valid'
            : [
                [0, 0],
                [pick(0, 3), pick(0, 3)],
                [pick(0, 3), pick(0, 3)],
                [0, 0],
              ];
      const info = tf.backend_util.computeConv2DInfo(x, f, stride, 1, pad);
      if (info.outHeight < 1 || info.outWidth < 1) continue;
      tried++;
      const c = { x, f, stride, pad };
      const xv = seeded(
        x.reduce((a, b) => a * b),
        tried,
      );
      const wv = seeded(
        f.reduce((a, b) => a * b),
        100 + tried,
      );
      const forward = (): Float32Array => tf.tidy(() => tf.conv2d(tf.tensor4d(xv, x), tf.tensor4d(wv, f), stride, pad).dataSync() as Float32Array);
      const [yRef, dxRef, dwRef] = await onBackend('cpu', () => [forward(), ...convGrads(xv, wv, c)]);
      const [y, dx, dw] = [forward(), ...convGrads(xv, wv, c)];
      const label = JSON.stringify(c);
      const scaleOf = (ref: Float32Array): number => Math.max(1, ...Array.from(ref, Math.abs));
      expect(maxAbsDiff(y!, yRef!) / scaleOf(yRef!), label).toBeLessThan(1e-5);
      expect(maxAbsDiff(dx!, dxRef!) / scaleOf(dxRef!), label).toBeLessThan(1e-5);
      expect(maxAbsDiff(dw!, dwRef!) / scaleOf(dwRef!), label).toBeLessThan(1e-5);
    }
  });
});

describe('row copies and sums between tensors of different strides', () => {
  it('copy the leading channels of every pixel, on the wasm heap and in plain arrays alike', () => {
    const memory = heapOf(tf.backend())!;
    const [rows, n, wide] = [37, 14, 16];
    const src = tf.tensor(seeded(rows * wide, 3), [rows, wide]);
    const dst = tf.fill([rows, n], -7);
    const heap = (t: tf.Tensor): Float32Array => (tf.backend() as unknown as { typedArrayFromHeap(t: tf.TensorInfo): Float32Array }).typedArrayFromHeap(t);
    const expected = Array.from({ length: rows * n }, (_, i) => heap(src)[Math.floor(i / n) * wide + (i % n)]!);
    copyChannels(memory, heap(src), heap(dst), rows, n, wide, n);
    expect(Array.from(dst.dataSync())).toEqual(expected);
    // Compact to wide: the padding channels are left as they were.
    const back = new Float32Array(rows * wide).fill(0.5);
    copyChannels(null, new Float32Array(expected), back, rows, n, n, wide);
    for (let r = 0; r < rows; r++) {
      expect(Array.from(back.subarray(r * wide, r * wide + n))).toEqual(expected.slice(r * n, (r + 1) * n));
      expect(Array.from(back.subarray(r * wide + n, (r + 1) * wide))).toEqual([0.5, 0.5]);
    }
    tf.dispose([src, dst]);
  });

  it('refuse rows that do not fit either tensor', () => {
    expect(() => copyChannels(null, new Float32Array(10), new Float32Array(10), 3, 3, 4, 3)).toThrow(/3 rows of 3 channels do not fit 10 floats 4 apart/);
    expect(() => copyChannels(null, new Float32Array(16), new Float32Array(16), 4, 5, 4, 4)).toThrow(/do not fit/);
  });

  it('add rows of different strides as float32 adds, on the wasm heap and in plain arrays alike, −0 + 0 giving +0', () => {
    const memory = heapOf(tf.backend())!;
    const [rows, n, aWidth, bWidth, dstWidth] = [9, 14, 20, 14, 16];
    const av = seeded(rows * aWidth, 21).map((v, i) => (i % 5 === 0 ? -0 : v));
    const bv = seeded(rows * bWidth, 22).map((v, i) => (i % 3 === 0 ? -0 : v));
    const expected = (withB: boolean): number[] =>
      Array.from({ length: rows * n }, (_, i) => {
        const [r, k] = [Math.floor(i / n), i % n];
        return Math.fround(av[r * aWidth + k]! + (withB ? bv[r * bWidth + k]! : 0));
      });
    const heap = (t: tf.Tensor): Float32Array => (tf.backend() as unknown as { typedArrayFromHeap(t: tf.TensorInfo): Float32Array }).typedArrayFromHeap(t);
    for (const withB of [true, false]) {
      const [a, b, dst] = [tf.tensor(av), tf.tensor(bv), tf.zeros([rows * dstWidth])];
      const shape = { rows, n, aWidth, bWidth, dstWidth };
      addRows(memory, heap(a), withB ? heap(b) : null, heap(dst), shape);
      const plain = new Float32Array(rows * dstWidth);
      addRows(null, av, withB ? bv : null, plain, shape);
      for (const out of [Array.from(dst.dataSync()), Array.from(plain)]) {
        const got = Array.from({ length: rows * n }, (_, i) => out[Math.floor(i / n) * dstWidth + (i % n)]!);
        expect(got, `with b: ${withB}`).toEqual(expected(withB));
      }
      tf.dispose([a, b, dst]);
    }
    expect(() => addRows(null, new Float32Array(10), null, new Float32Array(40), { rows: 3, n: 4, aWidth: 4, bWidth: 0, dstWidth: 4 })).toThrow(
      /3 rows of 4 do not fit/,
    );
  });
});
