import * as tf from '@tensorflow/tfjs';
import { depthwiseSimd } from './depthwise-simd.js';
import { filterGradientTables, forwardTables, inputGradientTables, type GatherTables } from './depthwise-tables.js';
import { KernelContext, type Conv2DPad } from './kernel-context.js';
import { heapOf } from './wasm-runtime.js';

/**
 * The depthwise convolution kernels of the wasm backend: the input and
 * filter gradients, which tfjs's wasm backend lacks (training a MobileNet
 * there failed at the first backward pass), and the forward pass for the
 * benchmark to set against XNNPACK's. NHWC, one filter per channel
 * (channel multiplier 1), no dilation: what MobileNetV2 uses.
 *
 * `simd`: the loop nests of depthwise-simd.ts on the backend's heap; `js`:
 * the same loops in JavaScript, where the engine has no wasm SIMD; `auto`:
 * SIMD where it can run.
 */
export type DepthwiseMethod = 'auto' | 'simd' | 'js';

interface DepthwiseAttrs {
  strides: number | [number, number];
  pad: Conv2DPad;
  dilations?: number | [number, number];
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  dataFormat?: 'NHWC' | 'NCHW';
}

type Shape4 = [number, number, number, number];

/** Why these kernels cannot take a depthwise convolution, or null when they can. */
function unsupported(xShape: Shape4, filterShape: Shape4, attrs: DepthwiseAttrs): string | null {
  if (attrs.dataFormat === 'NCHW') return 'NCHW layout';
  if (attrs.dilations !== undefined && [attrs.dilations].flat().some((d) => d !== 1)) return `dilation ${String(attrs.dilations)}`;
  if (filterShape[3] !== 1) return `channel multiplier ${filterShape[3]}`;
  if (filterShape[2] !== xShape[3]) return `a filter for ${filterShape[2]} channels on ${xShape[3]}`;
  return null;
}

function infoOf(xShape: Shape4, filterShape: Shape4, attrs: DepthwiseAttrs): tf.backend_util.Conv2DInfo {
  return tf.backend_util.computeConv2DInfo(xShape, filterShape, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode, true, 'channelsLast');
}

/** These kernels have no fallback of their own: refuse what they do not cover, saying what it is. */
function refuseUnsupported(kernel: string, xShape: Shape4, filterShape: Shape4, attrs: DepthwiseAttrs): void {
  const why = unsupported(xShape, filterShape, attrs);
  if (why !== null) throw new Error(`wasm ${kernel} supports NHWC, channel multiplier 1 and no dilation; got ${why}`);
}

/** The same loops as the SIMD gather, on plain arrays (offsets in bytes, divided by four). */
function gatherJs(src: Float32Array, w: Float32Array, dst: Float32Array, size: GatherSize, t: GatherTables): void {
  const { batch, srcH, srcW, dstH, dstW, channels: C } = size;
  const acc = new Float32Array(C);
  for (let b = 0; b < batch; b++) {
    const srcImg = b * srcH * srcW * C;
    for (let r = 0; r < dstH; r++) {
      const [wRow, sRow, nr] = [t.rows[3 * r]! / 4, t.rows[3 * r + 1]! / 4, t.rows[3 * r + 2]!];
      for (let col = 0; col < dstW; col++) {
        const [wCol, sCol, nc] = [t.cols[3 * col]! / 4, t.cols[3 * col + 1]! / 4, t.cols[3 * col + 2]!];
        acc.fill(0);
        for (let kr = 0; kr < nr; kr++) {
          for (let kc = 0; kc < nc; kc++) {
            const pw = wRow + (kr * t.rowTapStep) / 4 + wCol + (kc * t.colTapStep) / 4;
            const ps = srcImg + sRow + (kr * t.rowSrcStep) / 4 + sCol + (kc * t.colSrcStep) / 4;
            for (let c = 0; c < C; c++) acc[c]! += src[ps + c]! * w[pw + c]!;
          }
        }
        dst.set(acc, ((b * dstH + r) * dstW + col) * C);
      }
    }
  }
}

/** The filter gradient's loops on plain arrays; `dw` starts zeroed. */
function filterGradJs(x: Float32Array, dy: Float32Array, dw: Float32Array, info: tf.backend_util.Conv2DInfo, t: { rows: Int32Array; cols: Int32Array }): void {
  const { batchSize, inHeight: H, inWidth: W, outHeight, outWidth, filterWidth: kw, strideWidth: sw, inChannels: C } = info;
  for (let b = 0; b < batchSize; b++) {
    for (let i = 0; i < outHeight; i++) {
      const dyRow = (b * outHeight + i) * outWidth * C;
      const [wRow, xRow, nr] = [t.rows[3 * i]! / 4, t.rows[3 * i + 1]! / 4, t.rows[3 * i + 2]!];
      for (let kr = 0; kr < nr; kr++) {
        const wr = wRow + kr * kw * C;
        const xr = b * H * W * C + xRow + kr * W * C;
        for (let q = 0; q < kw; q++) {
          const [xCol, dyCol, nc] = [t.cols[3 * q]! / 4, t.cols[3 * q + 1]! / 4, t.cols[3 * q + 2]!];
          for (let k = 0; k < nc; k++) {
            const px = xr + xCol + k * sw * C;
            const pd = dyRow + dyCol + k * C;
            for (let c = 0; c < C; c++) dw[wr + q * C + c]! += x[px + c]! * dy[pd + c]!;
          }
        }
      }
    }
  }
}

interface GatherSize {
  batch: number;
  srcH: number;
  srcW: number;
  dstH: number;
  dstW: number;
  channels: number;
}

/** dst from src and the filter through the tables, by the SIMD loops or their JavaScript twin. */
function runGather(
  ctx: KernelContext,
  src: tf.TensorInfo,
  filter: tf.TensorInfo,
  dst: tf.TensorInfo,
  size: GatherSize,
  t: GatherTables,
  method: DepthwiseMethod,
): void {
  const memory = method === 'js' ? null : heapOf(ctx.backend);
  const simd = memory === null ? null : depthwiseSimd(memory);
  if (simd === null || memory === null) {
    if (method === 'simd') throw new Error('the depthwise SIMD kernels cannot run on this engine');
    gatherJs(ctx.view(src), ctx.view(filter), ctx.view(dst), size, t);
    return;
  }
  const rows = ctx.alloc([t.rows.length]);
  const cols = ctx.alloc([t.cols.length]);
  // Allocations first: they may grow (and move) the heap under earlier views.
  const at = (x: tf.TensorInfo): number => ctx.view(x).byteOffset;
  new Int32Array(memory.buffer, at(rows), t.rows.length).set(t.rows);
  new Int32Array(memory.buffer, at(cols), t.cols.length).set(t.cols);
  const { batch, srcH, srcW, dstH, dstW, channels } = size;
  simd.gather(
    at(src),
    at(filter),
    at(dst),
    batch,
    srcH,
    srcW,
    dstH,
    dstW,
    4 * channels,
    at(rows),
    at(cols),
    t.rowTapStep,
    t.rowSrcStep,
    t.colTapStep,
    t.colSrcStep,
  );
}

/** y = depthwise(x, filter): the forward pass by our loops. */
export function depthwiseForward(
  args: { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend; attrs: tf.NamedAttrMap },
  method: DepthwiseMethod = 'auto',
): tf.TensorInfo {
  const x = args.inputs['x']!;
  const filter = args.inputs['filter']!;
  const attrs = args.attrs as unknown as DepthwiseAttrs;
  refuseUnsupported('DepthwiseConv2dNative', x.shape as Shape4, filter.shape as Shape4, attrs);
  const info = infoOf(x.shape as Shape4, filter.shape as Shape4, attrs);
  const ctx = new KernelContext(args.backend);
  const y = ctx.alloc(info.outShape);
  const size = { batch: info.batchSize, srcH: info.inHeight, srcW: info.inWidth, dstH: info.outHeight, dstW: info.outWidth, channels: info.inChannels };
  runGather(ctx, x, filter, y, size, forwardTables(info), method);
  return ctx.finish(y);
}

/**
 * The wasm DepthwiseConv2dNative kernel: ours where it applies and `ours` is
 * set, the backend's own (XNNPACK) otherwise.
 */
export function wrapDepthwiseForward(original: tf.KernelFunc, ours: boolean): tf.KernelFunc {
  return (args) => {
    const { x, filter } = args.inputs as { x: tf.TensorInfo; filter: tf.TensorInfo };
    const attrs = args.attrs as unknown as DepthwiseAttrs;
    const plain = ours && x.dtype === 'float32' && unsupported(x.shape as Shape4, filter.shape as Shape4, attrs) === null;
    return plain ? depthwiseForward(args as Parameters<typeof depthwiseForward>[0]) : original(args);
  };
}

/** dx of a depthwise convolution, from dy and the filter. */
export function depthwiseBackpropInput(
  args: { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend; attrs: tf.NamedAttrMap },
  method: DepthwiseMethod = 'auto',
): tf.TensorInfo {
  const dy = args.inputs['dy']!;
  const filter = args.inputs['filter']!;
  const attrs = args.attrs as unknown as DepthwiseAttrs & { inputShape: Shape4 };
  refuseUnsupported('DepthwiseConv2dNativeBackpropInput', attrs.inputShape, filter.shape as Shape4, attrs);
  const info = infoOf(attrs.inputShape, filter.shape as Shape4, attrs);
  const ctx = new KernelContext(args.backend);
  const dx = ctx.alloc(attrs.inputShape);
  const size = { batch: info.batchSize, srcH: info.outHeight, srcW: info.outWidth, dstH: info.inHeight, dstW: info.inWidth, channels: info.inChannels };
  runGather(ctx, dy, filter, dx, size, inputGradientTables(info), method);
  return ctx.finish(dx);
}

/** dW of a depthwise convolution, from x and dy. */
export function depthwiseBackpropFilter(
  args: { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend; attrs: tf.NamedAttrMap },
  method: DepthwiseMethod = 'auto',
): tf.TensorInfo {
  const x = args.inputs['x']!;
  const dy = args.inputs['dy']!;
  const attrs = args.attrs as unknown as DepthwiseAttrs & { filterShape: Shape4 };
  refuseUnsupported('DepthwiseConv2dNativeBackpropFilter', x.shape as Shape4, attrs.filterShape, attrs);
  const info = infoOf(x.shape as Shape4, attrs.filterShape, attrs);
  const t = filterGradientTables(info);
  const ctx = new KernelContext(args.backend);
  const dw = ctx.alloc(attrs.filterShape);
  const memory = method === 'js' ? null : heapOf(args.backend);
  const simd = memory === null ? null : depthwiseSimd(memory);
  if (simd === null || memory === null) {
    if (method === 'simd') throw new Error('the depthwise SIMD kernels cannot run on this engine');
    ctx.view(dw).fill(0);
    filterGradJs(ctx.view(x), ctx.view(dy), ctx.view(dw), info, t);
    return ctx.finish(dw);
  }
  const rows = ctx.alloc([t.rows.length]);
  const cols = ctx.alloc([t.cols.length]);
  // Allocations first: they may grow (and move) the heap under earlier views.
  const at = (v: tf.TensorInfo): number => ctx.view(v).byteOffset;
  ctx.view(dw).fill(0);
  new Int32Array(memory.buffer, at(rows), t.rows.length).set(t.rows);
  new Int32Array(memory.buffer, at(cols), t.cols.length).set(t.cols);
  const { batchSize, inHeight, inWidth, outHeight, outWidth, filterWidth, strideWidth, inChannels } = info;
  simd.filterGrad(at(x), at(dy), at(dw), batchSize, inHeight, inWidth, outHeight, outWidth, 4 * inChannels, filterWidth, at(rows), at(cols), strideWidth);
  return ctx.finish(dw);
}
