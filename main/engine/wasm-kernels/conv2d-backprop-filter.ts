import * as tf from '@tensorflow/tfjs';
import { KernelContext, type Conv2DPad } from './kernel-context.js';

/**
 * The filter gradient of a 2-D convolution, which the wasm backend lacks.
 *
 * dW[p,q,c,o] = Σ_{b,i,j} x_pad[b, i·s+p, j·s+q, c] · dy[b,i,j,o] is itself a
 * convolution: the padded input with batch and channel axes swapped
 * ([C, H, W, B]) correlated with the output gradient as a filter
 * ([OH, OW, B, O]) dilated by the forward stride. XNNPACK runs it, so the
 * filter gradient costs about what the forward convolution does.
 */
export function conv2dBackpropFilter(args: {
  inputs: tf.NamedTensorInfoMap;
  backend: tf.KernelBackend;
  attrs: tf.NamedAttrMap;
}): tf.TensorInfo {
  const x = args.inputs['x']!;
  const dy = args.inputs['dy']!;
  const { strides, pad, dimRoundingMode, filterShape, dataFormat } = args.attrs as unknown as {
    strides: number | [number, number];
    pad: Conv2DPad;
    dimRoundingMode?: 'floor' | 'round' | 'ceil';
    filterShape: [number, number, number, number];
    dataFormat?: 'NHWC' | 'NCHW';
  };
  if (dataFormat === 'NCHW') throw new Error('wasm Conv2DBackpropFilter supports NHWC only');
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filterShape,
    strides,
    1,
    pad,
    dimRoundingMode,
    false,
    'channelsLast',
  );
  const ctx = new KernelContext(args.backend);
  // XNNPACK packs the output gradient as the filter of this convolution and
  // streams it once per tile of output rows; beyond ~1 MB it streams from
  // memory rather than cache (3× slower measured), so large gradients are
  // split over the batch and the partial filter gradients summed.
  const batch = x.shape[0]!;
  const packed = dy.shape.reduce((a, c) => a * c, 1);
  const chunks = Math.min(batch, 4, Math.max(1, Math.round(packed / 200_000)));
  const per = Math.ceil(batch / chunks);
  let total: tf.TensorInfo | null = null;
  for (let start = 0; start < batch; start += per) {
    const n = Math.min(per, batch - start);
    const part = filterGradient(ctx, ctx.batchRange(x, start, n), ctx.batchRange(dy, start, n), info, filterShape);
    total = total === null ? part : ctx.run('Add', { a: total, b: part }, {});
  }
  return ctx.finish(total!);
}

function filterGradient(
  ctx: KernelContext,
  x: tf.TensorInfo,
  dy: tf.TensorInfo,
  info: tf.backend_util.Conv2DInfo,
  filterShape: [number, number, number, number],
): tf.TensorInfo {
  const { top, bottom, left, right } = info.padInfo;
  const [kh, kw] = filterShape;
  let xp = x;
  if (top > 0 || bottom > 0 || left > 0 || right > 0) {
    const paddings = [
      [0, 0],
      [top, Math.max(bottom, 0)],
      [left, Math.max(right, 0)],
      [0, 0],
    ];
    xp = ctx.run('PadV2', { x }, { paddings, constantValue: 0 });
  }
  const xt = ctx.run('Transpose', { x: xp }, { perm: [3, 1, 2, 0] });
  const dyt = ctx.run('Transpose', { x: dy }, { perm: [1, 2, 0, 3] });
  let g = ctx.run(
    'Conv2D',
    { x: xt, filter: dyt },
    { strides: [1, 1], pad: 'valid', dilations: [info.strideHeight, info.strideWidth], dataFormat: 'NHWC' },
  );
  // Rows past (OH-1)·s + k of the padded input never meet a filter tap.
  if (g.shape[1] !== kh || g.shape[2] !== kw) {
    g = ctx.run('Slice', { x: g }, { begin: [0, 0, 0, 0], size: [g.shape[0]!, kh, kw, g.shape[3]!] });
  }
  return ctx.run('Transpose', { x: g }, { perm: [1, 2, 0, 3] });
}
