import type * as tf from '@tensorflow/tfjs';
import type { KernelContext } from './kernel-context.js';

/**
 * The filter gradient as one matrix product P · DY (XNNPACK's): P holds a row
 * per tap and input channel (p,q,c) and a column per output pixel (b,i,j), DY
 * is the output gradient as it lies in memory ([pixels, O]). Used where the
 * SIMD loop nest does not apply (output channels not in fours).
 */
export function patchProduct(
  ctx: KernelContext,
  x: tf.TensorInfo,
  dy: tf.TensorInfo,
  info: tf.backend_util.Conv2DInfo,
  filterShape: [number, number, number, number],
  patchLimit: number,
): tf.TensorInfo {
  const [batch, height, width, channels] = x.shape as [number, number, number, number];
  const [kh, kw, , outChannels] = filterShape;
  const pixels = info.outHeight * info.outWidth;
  // The patch matrix is kh·kw times the input; past `patchLimit` floats it is
  // built for a range of images at a time and the partial products added, so
  // memory stays bounded for large images.
  const per = Math.max(1, Math.min(batch, Math.floor(patchLimit / (kh * kw * channels * pixels))));
  // Channel-major input ([C, B, H, W]): each patch row is then a run of image rows.
  const planes = ctx.run('Transpose', { x }, { perm: [3, 0, 1, 2] });
  let total: tf.TensorInfo | null = null;
  for (let start = 0; start < batch; start += per) {
    const n = Math.min(per, batch - start);
    const patches = ctx.alloc([kh * kw * channels, n * pixels]);
    fillPatches(ctx.view(patches), ctx.view(planes), { batch, height, width, channels, start, count: n }, info);
    const grads = ctx.run('Reshape', { x: ctx.batchRange(dy, start, n) }, { shape: [n * pixels, outChannels] });
    const part = ctx.run('BatchMatMul', { a: patches, b: grads }, { transposeA: false, transposeB: false });
    total = total === null ? part : ctx.run('Add', { a: total, b: part }, {});
  }
  return ctx.run('Reshape', { x: total! }, { shape: filterShape });
}

/** Floats of patch matrix built at once (64 MB). */
export const PATCH_LIMIT = 16 * 1024 * 1024;

/** The output columns [j0, j1) at which filter column q reads inside the image. */
export function validColumns(q: number, width: number, info: tf.backend_util.Conv2DInfo): [number, number] {
  const j0 = clamp(Math.ceil((info.padInfo.left - q) / info.strideWidth), 0, info.outWidth);
  const j1 = clamp(Math.ceil((width + info.padInfo.left - q) / info.strideWidth), j0, info.outWidth);
  return [j0, j1];
}

interface ImageRange {
  batch: number;
  height: number;
  width: number;
  channels: number;
  start: number;
  count: number;
}

/**
 * P[(p·kw + q)·C + c, (b·OH + i)·OW + j] = x[b, i·s + p − top, j·s + q − left, c]
 * for the images [start, start + count), zero where the tap falls in the
 * padding, read from the channel-major planes. At stride 1 with the output as
 * wide as the input, a tap's block for one channel is the channel's planes
 * shifted by one offset: one copy, after which the rows and columns that the
 * shift pulled in from outside the image are zeroed. Other convolutions are
 * copied row by row.
 */
function fillPatches(out: Float32Array, planes: Float32Array, r: ImageRange, info: tf.backend_util.Conv2DInfo): void {
  const { outHeight: oh, outWidth: ow, strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw } = info;
  const { top, left } = info.padInfo;
  const block = oh * ow;
  const plane = r.height * r.width;
  const whole = sh === 1 && sw === 1 && ow === r.width && oh === r.height;
  const span = r.count * block;
  let o = 0;
  for (let p = 0; p < kh; p++) {
    // Output rows i and columns j whose tap lands inside the image.
    const i0 = clamp(Math.ceil((top - p) / sh), 0, oh);
    const i1 = clamp(Math.ceil((r.height + top - p) / sh), i0, oh);
    for (let q = 0; q < kw; q++) {
      const [j0, j1] = validColumns(q, r.width, info);
      const shift = q - left;
      for (let c = 0; c < r.channels; c++, o += span) {
        const first = (c * r.batch + r.start) * plane;
        if (whole) {
          // Reads past either end of the planes land only on elements zeroed below.
          const offset = (p - top) * r.width + shift;
          const from = Math.max(0, -(first + offset));
          const to = Math.min(span, planes.length - (first + offset));
          out.set(planes.subarray(first + offset + from, first + offset + to), o + from);
          zeroOutside(out, o, r.count, oh, ow, i0, i1, j0, j1);
          continue;
        }
        const rows: Rows = { oh, ow, sh, sw, i0, i1, j0, j1, width: r.width, plane, block, offset: -top * r.width + shift + p * r.width };
        copyRows(out, o, planes, first, r.count, rows);
      }
    }
  }
}

interface Rows {
  oh: number;
  ow: number;
  sh: number;
  sw: number;
  i0: number;
  i1: number;
  j0: number;
  j1: number;
  width: number;
  plane: number;
  block: number;
  /** Where row 0, column 0 of the tap reads, relative to its image. */
  offset: number;
}

/** One tap and channel for `count` images, row by row (any stride and padding). */
function copyRows(out: Float32Array, o: number, planes: Float32Array, first: number, count: number, g: Rows): void {
  const { oh, ow, sh, sw, i0, i1, j0, j1, width } = g;
  for (let b = 0; b < count; b++) {
    const image = first + b * g.plane + g.offset;
    const at = o + b * g.block;
    for (let k = at; k < at + i0 * ow; k++) out[k] = 0;
    for (let k = at + i1 * ow; k < at + oh * ow; k++) out[k] = 0;
    for (let i = i0; i < i1; i++) {
      const row = at + i * ow;
      const base = image + i * sh * width;
      for (let j = 0; j < j0; j++) out[row + j] = 0;
      for (let j = j0; j < j1; j++) out[row + j] = planes[base + j * sw]!;
      for (let j = j1; j < ow; j++) out[row + j] = 0;
    }
  }
}

/** Zeroes, in `count` blocks of oh × ow from `o`, the rows outside [i0, i1) and the columns outside [j0, j1). */
function zeroOutside(out: Float32Array, o: number, count: number, oh: number, ow: number, i0: number, i1: number, j0: number, j1: number): void {
  for (let b = 0; b < count; b++) {
    const at = o + b * oh * ow;
    for (let k = at; k < at + i0 * ow; k++) out[k] = 0;
    for (let k = at + i1 * ow; k < at + oh * ow; k++) out[k] = 0;
    if (j0 === 0 && j1 === ow) continue;
    for (let i = i0; i < i1; i++) {
      const row = at + i * ow;
      for (let j = 0; j < j0; j++) out[row + j] = 0;
      for (let j = j1; j < ow; j++) out[row + j] = 0;
    }
  }
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}
