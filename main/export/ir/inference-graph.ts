/**
 * A plain network lowered for inference, the form every file format is
 * written from: batch norms folded into the convolution before them (or,
 * standing alone, turned into a 1×1 depthwise convolution), ReLUs fused
 * into the operation they follow, global pooling a mean. Tensors are NHWC
 * feature maps `[h, w, c]` or vectors `[c]`, batch left out; weights are
 * plain float32 arrays.
 */

export interface IrTensor {
  id: number;
  name: string;
  /** [h, w, c] for feature maps, [c] after the global mean. */
  shape: readonly number[];
  /** Known to be ≥ 0 (a fused or standalone ReLU produced it). */
  nonNegative: boolean;
}

interface OpBase {
  /** The graph layer it comes from (the convolution a batch norm was folded into…). */
  name: string;
  output: number;
}

/**
 * A convolution with its bias. `depthwise` ones have one filter per channel
 * (a standalone batch norm is the 1×1 case): weights `[kh, kw, c]`.
 * Others: `[kh, kw, cin, cout]`, the engine's layout.
 */
export interface IrConv extends OpBase {
  op: 'conv';
  input: number;
  kernel: number;
  stride: number;
  /** Symmetric zero padding, as the network pads. */
  pad: number;
  depthwise: boolean;
  weight: Float32Array;
  bias: Float32Array;
  relu: boolean;
}
/** max(x, 0), capped at `cap` when it has one (ReLU6). */
export interface IrRelu extends OpBase {
  op: 'relu';
  input: number;
  cap: number | null;
}
export interface IrAdd extends OpBase {
  op: 'add';
  inputs: readonly [number, number];
  relu: boolean;
}
export interface IrConcat extends OpBase {
  op: 'concat';
  inputs: readonly number[];
}
/** Padding cells count as 0 (the inputs follow a ReLU, so that is also −∞ padding). */
export interface IrMaxPool extends OpBase {
  op: 'maxpool';
  input: number;
  kernel: number;
  stride: number;
  pad: number;
}
export interface IrAvgPool extends OpBase {
  op: 'avgpool';
  input: number;
  kernel: number;
  stride: number;
}
/** Global average pooling: [h, w, c] → [c]. */
export interface IrMean extends OpBase {
  op: 'mean';
  input: number;
}
/** `weight` is [in, out], the engine's layout. */
export interface IrDense extends OpBase {
  op: 'dense';
  input: number;
  weight: Float32Array;
  bias: Float32Array;
}
/** Keeps the leading channels (an identity shortcut into a narrower add). */
export interface IrSlice extends OpBase {
  op: 'slice';
  input: number;
}

export type IrOp = IrConv | IrRelu | IrAdd | IrConcat | IrMaxPool | IrAvgPool | IrMean | IrDense | IrSlice;

export interface InferenceGraph {
  tensors: IrTensor[];
  ops: IrOp[];
  /** Tensor 0: `[h, w, c]`, normalised as in training. */
  input: number;
  /** The logits, `[classes]`. */
  output: number;
}
