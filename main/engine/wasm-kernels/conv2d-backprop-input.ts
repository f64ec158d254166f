import * as tf from '@tensorflow/tfjs';
import { KernelContext, type Conv2DPad } from './kernel-context.js';

/**
 * The input gradient of a 2-D convolution as one XNNPACK convolution.
 *
 * The wasm backend has its own Conv2DBackpropInput, but it is a scalar loop
 * about ten times slower than the forward convolution, which would make every
 * training step backward-bound. dx is the correlation of the output gradient —
 * dilated by the stride (zeros between samples) and padded by k−1−pad — with
 * the filter rotated by 180° and its in/out axes swapped.
 */
export function conv2dBackpropInput(args: {
  inputs: tf.NamedTensorInfoMap;
  backend: tf.KernelBackend;
  attrs: tf.NamedAttrMap;
}): tf.TensorInfo {
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
  const [batch, height, width] = inputShape;
  const [kh, kw, , outChannels] = filter.shape as [number, number, number, number];
  const info = tf.backend_util.computeConv2DInfo(
    inputShape,
    filter.shape as [number, number, number, number],
    strides,
    1,
    pad,
    dimRoundingMode,
    false,
    'channelsLast',
  );
  const { strideHeight: sh, strideWidth: sw, outHeight, outWidth } = info;
  const ctx = new KernelContext(args.backend);
  const flipped = ctx.run('Reverse', { x: filter }, { dims: [0, 1] });
  const rotated = ctx.run('Transpose', { x: flipped }, { perm: [0, 1, 3, 2] });
  let d = dy;
  if (sh > 1 || sw > 1) {
    const r = ctx.run('Reshape', { x: dy }, { shape: [batch, outHeight, 1, outWidth, 1, outChannels] });
    const spaced = ctx.run(
      'PadV2',
      { x: r },
      {
        paddings: [
          [0, 0],
          [0, 0],
          [0, sh - 1],
          [0, 0],
          [0, sw - 1],
          [0, 0],
        ],
        constantValue: 0,
      },
    );
    d = ctx.run('Reshape', { x: spaced }, { shape: [batch, outHeight * sh, outWidth * sw, outChannels] });
  }
  const padTop = kh - 1 - info.padInfo.top;
  const padLeft = kw - 1 - info.padInfo.left;
  const padBottom = height + info.padInfo.top - d.shape[1]!;
  const padRight = width + info.padInfo.left - d.shape[2]!;
  if (padTop > 0 || padLeft > 0 || padBottom > 0 || padRight > 0) {
    const paddings = [
      [0, 0],
      [padTop, Math.max(padBottom, 0)],
      [padLeft, Math.max(padRight, 0)],
      [0, 0],
    ];
    d = ctx.run('PadV2', { x: d }, { paddings, constantValue: 0 });
  }
  if (padBottom < 0 || padRight < 0) {
    d = ctx.run('Slice', { x: d }, { begin: [0, 0, 0, 0], size: [batch, height + kh - 1, width + kw - 1, outChannels] });
  }
  return ctx.finish(
    ctx.run('Conv2D', { x: d, filter: rotated }, { strides: [1, 1], pad: 'valid', dilations: [1, 1], dataFormat: 'NHWC' }),
  );
}
