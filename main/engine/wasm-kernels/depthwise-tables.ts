import type * as tf from '@tensorflow/tfjs';
import { validColumns } from './filter-gradient-patches.js';

/**
 * Which taps of a depthwise filter meet which pixel, per row and per column,
 * as the loop nests of depthwise-simd.ts (and their JavaScript twins) read
 * them: i32 triples (filter offset, source offset, count) in bytes, and the
 * byte steps from one tap to the next. Every case of stride and padding is
 * settled here, so the loops never test a bound.
 */
export interface GatherTables {
  rows: Int32Array;
  cols: Int32Array;
  rowTapStep: number;
  rowSrcStep: number;
  colTapStep: number;
  colSrcStep: number;
}

/** The forward pass: output row i reads taps p ∈ [p0, p0 + n) at input rows i·s + p − pad, in order. */
function forwardAxis(out: number, size: number, k: number, stride: number, pad: number): Array<[tap: number, src: number, n: number]> {
  return Array.from({ length: out }, (_, i) => {
    const p0 = Math.max(0, pad - i * stride);
    const p1 = Math.min(k, size + pad - i * stride);
    return [p0, i * stride + p0 - pad, Math.max(0, p1 - p0)];
  });
}

/**
 * The input gradient: input row h receives dy rows i with i·s + p − pad = h,
 * i.e. taps p ≡ h + pad (mod s), a stride apart, while i = (h + pad − p)/s
 * counts down and stays inside dy.
 */
function inputGradientAxis(size: number, out: number, k: number, stride: number, pad: number): Array<[tap: number, src: number, n: number]> {
  return Array.from({ length: size }, (_, h) => {
    const taps: number[] = [];
    for (let p = (h + pad) % stride; p < k; p += stride) {
      const i = (h + pad - p) / stride;
      if (i >= 0 && i < out) taps.push(p);
    }
    const p0 = taps[0];
    return p0 === undefined ? [0, 0, 0] : [p0, (h + pad - p0) / stride, taps.length];
  });
}

function triples(entries: Array<[number, number, number]>, tapBytes: number, srcBytes: number): Int32Array {
  const t = new Int32Array(3 * entries.length);
  entries.forEach(([tap, src, n], i) => t.set([tap * tapBytes, src * srcBytes, n], 3 * i));
  return t;
}

/** Tables of the forward pass: y from x. */
export function forwardTables(info: tf.backend_util.Conv2DInfo): GatherTables {
  const c4 = 4 * info.inChannels;
  const { inHeight, inWidth, outHeight, outWidth, filterHeight, filterWidth, strideHeight, strideWidth, padInfo } = info;
  return {
    rows: triples(forwardAxis(outHeight, inHeight, filterHeight, strideHeight, padInfo.top), filterWidth * c4, inWidth * c4),
    cols: triples(forwardAxis(outWidth, inWidth, filterWidth, strideWidth, padInfo.left), c4, c4),
    rowTapStep: filterWidth * c4,
    rowSrcStep: inWidth * c4,
    colTapStep: c4,
    colSrcStep: c4,
  };
}

/** Tables of the input gradient: dx from dy, dy rows and columns walked backwards. */
export function inputGradientTables(info: tf.backend_util.Conv2DInfo): GatherTables {
  const c4 = 4 * info.inChannels;
  const { inHeight, inWidth, outHeight, outWidth, filterHeight, filterWidth, strideHeight, strideWidth, padInfo } = info;
  return {
    rows: triples(inputGradientAxis(inHeight, outHeight, filterHeight, strideHeight, padInfo.top), filterWidth * c4, outWidth * c4),
    cols: triples(inputGradientAxis(inWidth, outWidth, filterWidth, strideWidth, padInfo.left), c4, c4),
    rowTapStep: strideHeight * filterWidth * c4,
    rowSrcStep: -outWidth * c4,
    colTapStep: strideWidth * c4,
    colSrcStep: -c4,
  };
}

/**
 * Tables of the filter gradient: per output row the taps p that land in the
 * image (as the forward pass's), and per filter column q the valid output
 * columns as (x offset of the first, dy offset of the first, count).
 */
export function filterGradientTables(info: tf.backend_util.Conv2DInfo): { rows: Int32Array; cols: Int32Array } {
  const c4 = 4 * info.inChannels;
  const { inHeight, inWidth, outHeight, filterHeight, filterWidth, strideHeight, strideWidth, padInfo } = info;
  const cols = Array.from({ length: filterWidth }, (_, q): [number, number, number] => {
    const [j0, j1] = validColumns(q, inWidth, info);
    return [j0 * strideWidth + q - padInfo.left, j0, j1 - j0];
  });
  return {
    rows: triples(forwardAxis(outHeight, inHeight, filterHeight, strideHeight, padInfo.top), filterWidth * c4, inWidth * c4),
    cols: triples(cols, c4, c4),
  };
}
