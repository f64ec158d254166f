import * as tf from '@tensorflow/tfjs';
import { KernelContext, type Conv2DPad } from './kernel-context.js';

/**
 * The input gradient of a 2-D convolution as XNNPACK convolutions.
 *
 * The wasm backend has its own Conv2DBackpropInput, but it is a scalar loop
 * about ten times slower than the forward convolution. With forward
 * y[o] = Σ_p x[s·o + p − pad]·W[p], the gradient at input row n = s·i + a
 * (phase a < s) only meets the taps p ≡ a + pad (mod s):
 * dx[s·i + a] = Σ_{those p} dy[i − (p − pad − a)/s]·W[p] — a stride-1
 * correlation of dy with a sub-filter of W. One convolution per phase (rows
 * × columns) costs together what the forward convolution does; spreading
 * dy with zeros to stride 1 instead would multiply s² as many zeros.
 */
export function conv2dBackpropInput(args: { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend; attrs: tf.NamedAttrMap }): tf.TensorInfo {
  const dy = args.inputs['dy']!;
  const filter = args.inputs['filter']!;
  const { strides, pad, dimRoundingMode, inputShape, dataFormat } = args.attrs as unknown as {
    strides: number | [number, number];
    pad: Conv2DPad;
    dimRoundingMode?: 'floor' | 'round' | 'ceil';
    inputShape: [number, number, number, number];
    dataFormat?: 'NHWC' | 'NCHW';
  };
  if (dataFormat === 'NCHW') throw new Error('wasm Conv2DBackpropInput supports NHWC only');
  const [kh, kw, inChannels, outChannels] = filter.shape as [number, number, number, number];
  const info = tf.backend_util.computeConv2DInfo(inputShape, [kh, kw, inChannels, outChannels], strides, 1, pad, dimRoundingMode, false, 'channelsLast');
  const [batch, height, width] = inputShape;
  const rows = phases(height, kh, info.strideHeight, info.padInfo.top, info.outHeight);
  const cols = phases(width, kw, info.strideWidth, info.padInfo.left, info.outWidth);
  const ctx = new KernelContext(args.backend);
  const b = args.backend as tf.KernelBackend & {
    makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
    typedArrayFromHeap(t: tf.TensorInfo): Float32Array;
  };

  const single = rows.length === 1 && cols.length === 1;
  const dx = single ? null : ctx.track(b.makeOutput([batch, height, width, inChannels], 'float32'));
  if (dx !== null) b.typedArrayFromHeap(dx).fill(0);
  for (const r of rows) {
    for (const c of cols) {
      if (r.taps.length === 0 || c.taps.length === 0 || r.count === 0 || c.count === 0) continue;
      // A phase whose taps reach no row or column of dy contributes zeros (dx is cleared).
      const reads = cropped(ctx, dy, r, c);
      if (reads === null) continue;
      const sub = ctx.track(b.makeOutput([r.taps.length, c.taps.length, outChannels, inChannels], 'float32'));
      // Views taken after the allocation (growing the heap detaches earlier ones): no copy of the filter.
      fillSubFilter(b.typedArrayFromHeap(sub), b.typedArrayFromHeap(filter), r.taps, c.taps, kw, inChannels, outChannels);
      const part = ctx.run(
        'Conv2D',
        { x: reads, filter: sub },
        {
          strides: [1, 1],
          pad: [
            [0, 0],
            [Math.max(r.before, 0), Math.max(r.after, 0)],
            [Math.max(c.before, 0), Math.max(c.after, 0)],
            [0, 0],
          ],
          dilations: [1, 1],
          dataFormat: 'NHWC',
        },
      );
      if (dx === null) return ctx.finish(part);
      interleave(b.typedArrayFromHeap(part), b.typedArrayFromHeap(dx), batch, height, width, inChannels, r, c, info.strideHeight, info.strideWidth);
    }
  }
  return ctx.finish(dx ?? ctx.track(zeros(b, [batch, height, width, inChannels])));
}

/** One phase along an axis: output rows s·i + phase, the taps that reach them, and the correlation's padding. */
interface Phase {
  phase: number;
  /** Rows of this phase: i = 0 … count − 1. */
  count: number;
  /** Filter taps in correlation order (the sub-filter's rows). */
  taps: number[];
  before: number;
  after: number;
}

/**
 * Phases of one axis (input length n, kernel k, stride s, leading padding
 * pad, output length out). A phase whose padding would be negative (dy rows
 * no input row depends on) is cropped by the convolution's own bounds: the
 * padding is clamped and the phase length fixed by count.
 */
function phases(n: number, k: number, s: number, pad: number, out: number): Phase[] {
  const result: Phase[] = [];
  for (let a = 0; a < s; a++) {
    const count = Math.max(0, Math.ceil((n - a) / s));
    // Taps p ≡ a + pad (mod s); row i reads dy[i − d] with d = (p − pad − a)/s.
    const ps: number[] = [];
    for (let p = 0; p < k; p++) if ((((p - pad - a) % s) + s) % s === 0) ps.push(p);
    if (ps.length === 0) {
      result.push({ phase: a, count, taps: [], before: 0, after: 0 });
      continue;
    }
    const d = (p: number): number => (p - pad - a) / s;
    const dMax = d(ps[ps.length - 1]!);
    // Correlation order: t = dMax − d, so tap t reads dy[i + t − dMax].
    const taps = [...ps].reverse();
    const before = dMax;
    const after = count - out - before + taps.length - 1;
    result.push({ phase: a, count, taps, before, after });
  }
  return result;
}

/**
 * dy without the rows and columns a phase never reads: a negative padding
 * (a large explicit forward padding, or a stride that skips dy's last rows)
 * is a crop. The usual 'same' and 'valid' layers need none. Null when
 * nothing is left: the phase reads only padding (a convolution of an empty
 * image would leave its output unwritten).
 */
function cropped(ctx: KernelContext, dy: tf.TensorInfo, r: Phase, c: Phase): tf.TensorInfo | null {
  const top = Math.max(-r.before, 0);
  const bottom = Math.max(-r.after, 0);
  const left = Math.max(-c.before, 0);
  const right = Math.max(-c.after, 0);
  if (top + bottom + left + right === 0) return dy;
  const [n, h, w, ch] = dy.shape as [number, number, number, number];
  if (h - top - bottom <= 0 || w - left - right <= 0) return null;
  return ctx.run('Slice', { x: dy }, { begin: [0, top, left, 0], size: [n, h - top - bottom, w - left - right, ch] });
}

/** sub[t, u, o, c] = W[taps_r[t], taps_c[u], c, o]: the taps of a phase, in/out channels swapped. */
function fillSubFilter(sub: Float32Array, w: Float32Array, rowTaps: number[], colTaps: number[], kw: number, inC: number, outC: number): void {
  let at = 0;
  for (const p of rowTaps) {
    for (const q of colTaps) {
      const base = (p * kw + q) * inC * outC;
      for (let o = 0; o < outC; o++) {
        for (let c = 0; c < inC; c++) sub[at++] = w[base + c * outC + o]!;
      }
    }
  }
}

/** Writes a phase's rows s·i + a, columns s·j + b of dx. */
function interleave(part: Float32Array, dx: Float32Array, batch: number, h: number, w: number, C: number, r: Phase, c: Phase, sh: number, sw: number): void {
  const partH = r.count;
  const partW = c.count;
  for (let n = 0; n < batch; n++) {
    for (let i = 0; i < partH; i++) {
      const row = (n * h + i * sh + r.phase) * w;
      const src = (n * partH + i) * partW * C;
      for (let j = 0; j < partW; j++) {
        const to = (row + j * sw + c.phase) * C;
        const from = src + j * C;
        for (let k = 0; k < C; k++) dx[to + k] = part[from + k]!;
      }
    }
  }
}

function zeros(
  b: { makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo; typedArrayFromHeap(t: tf.TensorInfo): Float32Array },
  shape: number[],
): tf.TensorInfo {
  const t = b.makeOutput(shape, 'float32');
  b.typedArrayFromHeap(t).fill(0);
  return t;
}
