import type { CalibrationMethod } from '../../../shared/export.js';
import type { InferenceGraph, IrConv, IrDense } from '../ir/inference-graph.js';

/** A calibrated value range of one tensor. */
export interface TensorRange {
  min: number;
  max: number;
}

/** int8 parameters of an activation tensor: real = scale · (q − zeroPoint), q ∈ [−128, 127]. */
export interface ActivationQuant {
  scale: number;
  zeroPoint: number;
  /** The range the parameters cover (the calibrated one, widened to hold 0). */
  min: number;
  max: number;
}

/**
 * int8 weights, symmetric (zero point 0, q ∈ [−127, 127]), and an int32 bias
 * at scale s_x·s_w. `scales` has one entry per output channel (convolutions)
 * or one for the whole tensor (the dense layer).
 */
export interface QuantizedWeights {
  values: Int8Array;
  scales: Float32Array;
  bias: Int32Array;
  biasScales: Float32Array;
}

export interface QuantPlan {
  method: CalibrationMethod;
  /** By tensor id. */
  activations: ActivationQuant[];
  /** By op index: every conv and dense op. */
  weights: Map<number, QuantizedWeights>;
  /** Tensors that must share one scale and zero point, by tensor id. */
  groups: number[][];
}

const INT32_MAX = 2_147_483_647;

/** Asymmetric int8 parameters for a range; 0 is exactly representable (zero padding must stay exact). */
export function activationQuant(range: TensorRange): ActivationQuant {
  const min = Math.min(range.min, 0);
  // A tensor that is 0 on every calibration image still needs a positive scale.
  const max = Math.max(range.max, 0, min + 1e-6);
  const scale = Math.fround((max - min) / 255);
  // `+ 0` turns Math.round's −0 into 0.
  const zeroPoint = Math.min(127, Math.max(-128, Math.round(-128 - min / scale))) + 0;
  return { scale, zeroPoint, min, max };
}

/**
 * The tensors whose int8 parameters must be equal: a concatenation's inputs
 * and output (runtimes then copy bytes instead of requantizing, and
 * DenseNet's growing concatenations keep one scale), and the inputs and
 * outputs of pools and slices (TFLite's int8 pooling kernels require it).
 */
export function sharedScaleGroups(g: InferenceGraph): number[][] {
  const parent = g.tensors.map((t) => t.id);
  const find = (t: number): number => {
    while (parent[t] !== t) t = parent[t] = parent[parent[t]!]!;
    return t;
  };
  const union = (a: number, b: number): void => void (parent[find(a)] = find(b));
  for (const op of g.ops) {
    if (op.op === 'concat') for (const t of op.inputs) union(t, op.output);
    if (op.op === 'maxpool' || op.op === 'avgpool' || op.op === 'slice') union(op.input, op.output);
  }
  const groups = new Map<number, number[]>();
  for (const t of g.tensors) {
    const r = find(t.id);
    groups.set(r, [...(groups.get(r) ?? []), t.id]);
  }
  return [...groups.values()].filter((m) => m.length > 1);
}

/**
 * Symmetric int8 weights with one scale per output channel (the last axis
 * of `[kh, kw, cin, cout]` and of depthwise `[kh, kw, c]`) or one for the
 * whole tensor, and the bias in int32 at s_in·s_w. A channel whose bias would
 * not fit in int32 at that scale (all-zero weights, a tiny input scale) gets a
 * larger weight scale, so no bias is ever clipped.
 */
export function quantizeWeights(weight: Float32Array, bias: Float32Array, inputScale: number, perChannel: boolean): QuantizedWeights {
  const channels = bias.length;
  const groups = perChannel ? channels : 1;
  const maxAbs = new Float64Array(groups);
  for (let i = 0; i < weight.length; i++) {
    const g = perChannel ? i % channels : 0;
    maxAbs[g] = Math.max(maxAbs[g]!, Math.abs(weight[i]!));
  }
  const maxBias = new Float64Array(groups);
  for (let c = 0; c < channels; c++) maxBias[perChannel ? c : 0] = Math.max(maxBias[perChannel ? c : 0]!, Math.abs(bias[c]!));
  const scales = new Float32Array(groups);
  for (let g = 0; g < groups; g++) {
    const fromWeights = maxAbs[g]! > 0 ? maxAbs[g]! / 127 : 1 / 127;
    scales[g] = Math.max(fromWeights, maxBias[g]! / (inputScale * (INT32_MAX - 1)));
  }
  const values = new Int8Array(weight.length);
  for (let i = 0; i < weight.length; i++) {
    const s = scales[perChannel ? i % channels : 0]!;
    values[i] = Math.max(-127, Math.min(127, Math.round(weight[i]! / s)));
  }
  // The product is rounded to float32 once, as runtimes check it against s_in·s_w.
  const biasScales = scales.map((s) => Math.fround(inputScale * s));
  const q = new Int32Array(channels);
  for (let c = 0; c < channels; c++) q[c] = Math.max(-INT32_MAX, Math.min(INT32_MAX, Math.round(bias[c]! / biasScales[perChannel ? c : 0]!)));
  return { values, scales, bias: q, biasScales };
}

/**
 * The int8 plan of a lowered network from calibrated ranges: each group of
 * tensors that must share parameters takes the union of its ranges; weights
 * are quantized per output channel for convolutions and per tensor for the
 * dense layer (per-channel fully-connected weights need runtimes newer than
 * the Arm NN reader CI checks the files with, and the classifier is a small
 * share of the MACs).
 */
export function planQuantization(g: InferenceGraph, ranges: readonly TensorRange[], method: CalibrationMethod): QuantPlan {
  if (ranges.length !== g.tensors.length) throw new Error(`calibration gave ${ranges.length} ranges for ${g.tensors.length} tensors`);
  const effective = ranges.map((r, t) => (g.tensors[t]!.nonNegative ? { min: 0, max: r.max } : { ...r }));
  const groups = sharedScaleGroups(g);
  for (const members of groups) {
    const union = { min: Math.min(...members.map((t) => effective[t]!.min)), max: Math.max(...members.map((t) => effective[t]!.max)) };
    for (const t of members) effective[t] = union;
  }
  const activations = effective.map(activationQuant);
  const weights = new Map<number, QuantizedWeights>();
  g.ops.forEach((op, i) => {
    if (op.op === 'conv' || op.op === 'dense') weights.set(i, quantizeOp(op, activations[op.input]!.scale));
  });
  return { method, activations, weights, groups };
}

function quantizeOp(op: IrConv | IrDense, inputScale: number): QuantizedWeights {
  return quantizeWeights(op.weight, op.bias, inputScale, op.op === 'conv');
}
