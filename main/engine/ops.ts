import * as tf from '@tensorflow/tfjs';
import type { ConvNode, DepthwiseNode, GraphNode, ModelGraph } from '../../shared/model/graph.js';
import type { NodeOf, Op } from '../../shared/model/ops.js';
import type { SmallPlan } from '../../shared/model/plan.js';
import { count, type Selection } from '../../shared/model/selection.js';
import { type Activation, RELU6_CAP } from './activation.js';
import { activate, batchNormInference, batchNormTrain } from './batch-norm.js';
import type { BatchStats } from './forward.js';
import type { FusionPlan } from './fusion.js';
import { globalAveragePool } from './global-pool.js';
import { makeVar, type NetworkParams, type Path, paramName } from './params.js';
import type { Rng } from './rng.js';
import type { WeightSlice } from './adjoined-weights.js';
import { sliceChannels, sliceWeight } from './slicing.js';

/**
 * What the engine does with each graph op, in one entry per op: the weights
 * it owns, how each path runs it, the soft mask of its output in a DAN
 * super-network and its expected multiply-adds, what an extracted small
 * network copies from it, and its TF.js layer. The model layer
 * (shared/model/ops.ts) and the exporter (main/export/ir/lower.ts) keep
 * tables of the same shape.
 */
export interface EngineOpSpec<N extends GraphNode> {
  /** Creates the op's variables. */
  params(node: N, a: ParamArgs): void;
  /** The op on one path; null where a fused kernel downstream computes it. */
  run(node: N, a: RunArgs): tf.Tensor | null;
  /** The slice of its weight the sliced small path reads, given the small path's selections (null: no weight). */
  smallWeight(node: N, sel: readonly Selection[]): { name: string; slice: WeightSlice } | null;
  /** The soft channel mask of the small path's output (null: all ones). */
  mask(node: N, a: MaskArgs): tf.Tensor1D | null;
  /** Expected multiply-adds under soft masks, from the expected widths of tensors; null: none. */
  readonly expectedMacs: ((node: N, width: (id: number) => tf.Scalar | number) => tf.Scalar | number) | null;
  /** Copies the small path's weights into an extracted network's. */
  extract(node: N, a: ExtractArgs): void;
  /** The op as standard TF.js layers. */
  layers(node: N, a: LayersArgs): tf.SymbolicTensor;
}

export type EngineOps = { readonly [K in Op]: EngineOpSpec<NodeOf<K>> };

export const BN_EPSILON = 1e-5;

export interface ParamArgs {
  graph: ModelGraph;
  /** With a small plan every batch norm gets a small-path twin over its live channels. */
  plan: SmallPlan | null;
  rng: Rng;
  trainable: Map<string, tf.Variable>;
  running: Map<string, tf.Variable>;
}

export interface RunArgs {
  graph: ModelGraph;
  path: Path;
  /** The network's input batch. */
  batch: tf.Tensor4D;
  /** This path's value of an earlier node. */
  value(i: number): tf.Tensor;
  /** The small path's selection at a node (only while the small path runs). */
  selection(i: number): Selection;
  /**
   * The full path's output of this node, where the small path would compute
   * the very same thing: the same input tensor (the stem sees one image).
   */
  sharedWithFull(node: { id: number; input: number }): tf.Tensor | null;
  params: NetworkParams;
  /** A weight as the full path reads it, once per forward pass. */
  weight(name: string): tf.Tensor;
  /** The small path's slice of a weight (the op's `smallWeight`), once per forward pass. */
  slicedWeight(name: string, slice: WeightSlice): tf.Tensor;
  training: boolean;
  /** Batch statistics of the training batch norms, for the running averages. */
  stats: BatchStats[];
  /** The small path's soft masks per node (a DAN super-network); empty otherwise. */
  masks: ReadonlyArray<tf.Tensor1D | null>;
  fusion: FusionPlan;
}

export interface MaskArgs {
  plan: SmallPlan;
  /** The masks of the nodes before this one. */
  masks: ReadonlyArray<tf.Tensor1D | null>;
  groupMasks: ReadonlyMap<string, tf.Tensor1D>;
}

export interface ExtractArgs {
  sel: readonly Selection[];
  /** The adjoined network's variables. */
  from: NetworkParams;
  /** Stores a copy of `value` in the extracted network. */
  copy(name: string, value: tf.Tensor, trainable: boolean): void;
}

export interface LayersArgs {
  graph: ModelGraph;
  value(i: number): tf.SymbolicTensor;
  params: NetworkParams;
  /** Layers whose weights are set once the model is built. */
  weights: Array<{ layer: tf.layers.Layer; values: tf.Tensor[] }>;
}

function tensorFrom(shape: number[], fill: (i: number) => number): tf.Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(size);
  for (let i = 0; i < size; i++) data[i] = fill(i);
  return tf.tensor(data, shape, 'float32');
}

function addBatchNorm(a: ParamArgs, layer: string, path: Path, channels: number): void {
  a.trainable.set(
    paramName.gamma(layer, path),
    makeVar(() => tf.ones([channels]), true),
  );
  a.trainable.set(
    paramName.beta(layer, path),
    makeVar(() => tf.zeros([channels]), true),
  );
  a.running.set(
    paramName.mean(layer, path),
    makeVar(() => tf.zeros([channels]), false),
  );
  a.running.set(
    paramName.variance(layer, path),
    makeVar(() => tf.ones([channels]), false),
  );
}

/** Symmetric zero padding, as torchvision pads, before a 'valid' TF.js layer. */
function padded(name: string, x: tf.SymbolicTensor, p: number): tf.SymbolicTensor {
  return p > 0 ? (tf.layers.zeroPadding2d({ padding: p, name: `${name}.pad` }).apply(x) as tf.SymbolicTensor) : x;
}

/** The network's symmetric zero padding on both spatial axes ('valid' when there is none). */
function spatialPadding(p: number): tf.backend_util.ExplicitPadding | 'valid' {
  return p === 0
    ? 'valid'
    : [
        [0, 0],
        [p, p],
        [p, p],
        [0, 0],
      ];
}

function conv(x: tf.Tensor4D, w: tf.Tensor4D, node: ConvNode): tf.Tensor4D {
  return tf.conv2d(x, w, node.stride, spatialPadding(node.pad));
}

function depthwise(x: tf.Tensor4D, w: tf.Tensor4D, node: DepthwiseNode): tf.Tensor4D {
  return tf.depthwiseConv2d(x, w, node.stride, spatialPadding(node.pad));
}

function maxPool(x: tf.Tensor4D, kernel: number, stride: number, pad: number): tf.Tensor4D {
  // Inputs follow a ReLU (≥ 0), so zero padding equals torchvision's −∞ padding.
  const p =
    pad > 0
      ? tf.pad(x, [
          [0, 0],
          [pad, pad],
          [pad, pad],
          [0, 0],
        ])
      : x;
  return tf.maxPool(p, kernel, stride, 'valid');
}

/** Per-channel soft mask of a tensor, applied by broadcasting over the channel axis. */
function applyMask(x: tf.Tensor, mask: tf.Tensor1D | null): tf.Tensor {
  return mask === null ? x : tf.mul(x, mask);
}

interface BnArgs {
  x: tf.Tensor;
  layer: string;
  a: RunArgs;
  /** `act(bn(x)·mask + residual)`: a DAN soft mask, a residual shortcut, an activation. */
  mask?: tf.Tensor1D | null;
  residual?: tf.Tensor | null;
  activation?: Activation;
}

/** One path's batch norm: batch statistics (reported in `stats`) in training, running ones otherwise. */
function batchNorm({ x, layer, a, mask = null, residual = null, activation = 'none' }: BnArgs): tf.Tensor {
  const { path, params } = a;
  const gamma = params.get(paramName.gamma(layer, path)) as tf.Tensor1D;
  const beta = params.get(paramName.beta(layer, path)) as tf.Tensor1D;
  if (!a.training) {
    const mean = params.get(paramName.mean(layer, path)) as tf.Tensor1D;
    const variance = params.get(paramName.variance(layer, path)) as tf.Tensor1D;
    return batchNormInference(x, gamma, beta, { mean, variance }, { epsilon: BN_EPSILON, mask, residual, activation });
  }
  const { y, mean, variance } = batchNormTrain(x, gamma, beta, { epsilon: BN_EPSILON, mask, residual, activation });
  a.stats.push({ layer, path, mean, variance, count: x.size / x.shape[x.rank - 1]! });
  return y;
}

/** The small path's mask of a node, in a DAN super-network. */
function smallMask(a: RunArgs, id: number): tf.Tensor1D | null {
  return a.path === 'small' ? (a.masks[id] ?? null) : null;
}

function head(m: tf.Tensor1D, n: number): tf.Tensor1D {
  return m.shape[0] === n ? m : (tf.slice(m, [0], [n]) as tf.Tensor1D);
}

const noParams = (): void => {};
const noWeight = (): null => null;
const passMask = (node: { input: number }, a: MaskArgs): tf.Tensor1D | null => a.masks[node.input] ?? null;

export const ENGINE_OPS = {
  input: {
    params: noParams,
    run: (_node, a) => a.batch,
    smallWeight: noWeight,
    mask: () => null,
    expectedMacs: null,
    extract: noParams,
    layers: (node) => tf.input({ shape: [node.shape.h, node.shape.w, node.shape.c], name: 'input' }),
  },
  conv: {
    params: (node, a) => {
      // He-normal with fan-out, as torchvision initialises convolutions.
      const cin = a.graph.nodes[node.input]!.shape.c;
      const k = node.kernel;
      const std = Math.sqrt(2 / (k * k * node.shape.c));
      a.trainable.set(
        paramName.weight(node.name),
        makeVar(() => tensorFrom([k, k, cin, node.shape.c], () => a.rng.normal() * std), true),
      );
    },
    run: (node, a) => {
      const name = paramName.weight(node.name);
      const w = a.weight(name);
      if (a.path === 'full') return conv(a.value(node.input) as tf.Tensor4D, w as tf.Tensor4D, node);
      const ws = a.slicedWeight(name, { rows: a.selection(node.input), cols: count(a.selection(node.id)) });
      // Where both paths read the same tensor with the same weights (the stem
      // sees one image), the small path reuses the full path's convolution.
      const shared = ws === w ? a.sharedWithFull(node) : null;
      return shared ?? conv(a.value(node.input) as tf.Tensor4D, ws as tf.Tensor4D, node);
    },
    smallWeight: (node, sel) => ({ name: paramName.weight(node.name), slice: { rows: sel[node.input]!, cols: count(sel[node.id]!) } }),
    mask: (node, a) => {
      if (node.group === null) return null;
      const m = a.groupMasks.get(node.group);
      if (m === undefined) throw new Error(`no soft mask for width group ${node.group}`);
      const n = count(a.plan.sel[node.id]!);
      if (m.shape[0] !== n) throw new Error(`mask of group ${node.group} has ${m.shape[0]} channels, ${node.name} has ${n}`);
      return m;
    },
    expectedMacs: (node, width) => tf.mul(tf.mul(width(node.input), width(node.id)), node.kernel * node.kernel * node.shape.h * node.shape.w),
    extract: (node, a) => {
      const w = a.from.get(paramName.weight(node.name));
      tf.tidy(() => a.copy(paramName.weight(node.name), sliceWeight(w, a.sel[node.input]!, count(a.sel[node.id]!)), true));
    },
    layers: (node, a) => {
      if (node.adjoined) throw new Error(`toLayersModel needs a plain network; ${node.name} is adjoined (extract it first)`);
      const layer = tf.layers.conv2d({
        filters: node.shape.c,
        kernelSize: node.kernel,
        strides: node.stride,
        padding: 'valid',
        useBias: false,
        name: node.name,
      });
      a.weights.push({ layer, values: [a.params.get(paramName.weight(node.name))] });
      return layer.apply(padded(node.name, a.value(node.input), node.pad)) as tf.SymbolicTensor;
    },
  },
  dwconv: {
    params: (node, a) => {
      // He-normal with fan-out as torchvision computes it for a [C, 1, k, k] weight: C·k².
      const c = node.shape.c;
      const k = node.kernel;
      const std = Math.sqrt(2 / (k * k * c));
      a.trainable.set(
        paramName.weight(node.name),
        makeVar(() => tensorFrom([k, k, c, 1], () => a.rng.normal() * std), true),
      );
    },
    run: (node, a) => {
      const name = paramName.weight(node.name);
      const w = a.weight(name);
      if (a.path === 'full') return depthwise(a.value(node.input) as tf.Tensor4D, w as tf.Tensor4D, node);
      // The filters of the channels the input carries: [k, k, C, 1] sliced on C.
      const ws = a.slicedWeight(name, { rows: a.selection(node.input), cols: 1 });
      const shared = ws === w ? a.sharedWithFull(node) : null;
      return shared ?? depthwise(a.value(node.input) as tf.Tensor4D, ws as tf.Tensor4D, node);
    },
    smallWeight: (node, sel) => ({ name: paramName.weight(node.name), slice: { rows: sel[node.input]!, cols: 1 } }),
    // Channel by channel: a masked input channel stays masked (its batch norm applies the mask again).
    mask: passMask,
    expectedMacs: (node, width) => tf.mul(width(node.input), node.kernel * node.kernel * node.shape.h * node.shape.w),
    extract: (node, a) => {
      const w = a.from.get(paramName.weight(node.name));
      tf.tidy(() => a.copy(paramName.weight(node.name), sliceWeight(w, a.sel[node.input]!, 1), true));
    },
    layers: (node, a) => {
      const layer = tf.layers.depthwiseConv2d({
        kernelSize: node.kernel,
        strides: node.stride,
        padding: 'valid',
        depthMultiplier: 1,
        useBias: false,
        name: node.name,
      });
      a.weights.push({ layer, values: [a.params.get(paramName.weight(node.name))] });
      return layer.apply(padded(node.name, a.value(node.input), node.pad)) as tf.SymbolicTensor;
    },
  },
  bn: {
    params: (node, a) => {
      addBatchNorm(a, node.name, 'full', node.shape.c);
      if (a.plan !== null) addBatchNorm(a, node.name, 'small', count(a.plan.sel[node.id]!));
    },
    run: (node, a) => {
      if (a.fusion.deferred.has(node.id)) return null;
      // A batch norm's shift turns masked-off zeros into β: the mask applies after it.
      const activation = a.fusion.bnActivation.get(node.id) ?? 'none';
      return batchNorm({ x: a.value(node.input), layer: node.name, a, mask: smallMask(a, node.id), activation });
    },
    smallWeight: noWeight,
    mask: passMask,
    expectedMacs: null,
    extract: (node, a) => {
      // The small path's own batch norm becomes the extracted network's only one.
      a.copy(paramName.gamma(node.name, 'full'), a.from.get(paramName.gamma(node.name, 'small')), true);
      a.copy(paramName.beta(node.name, 'full'), a.from.get(paramName.beta(node.name, 'small')), true);
      a.copy(paramName.mean(node.name, 'full'), a.from.get(paramName.mean(node.name, 'small')), false);
      a.copy(paramName.variance(node.name, 'full'), a.from.get(paramName.variance(node.name, 'small')), false);
    },
    layers: (node, a) => {
      const layer = tf.layers.batchNormalization({ epsilon: BN_EPSILON, name: node.name });
      a.weights.push({
        layer,
        values: (['gamma', 'beta', 'mean', 'variance'] as const).map((k) => a.params.get(paramName[k](node.name, 'full'))),
      });
      return layer.apply(a.value(node.input)) as tf.SymbolicTensor;
    },
  },
  relu: {
    params: noParams,
    // A fused kernel upstream may already have applied it.
    run: (node, a) => (a.fusion.produced.has(node.id) ? a.value(node.input) : tf.relu(a.value(node.input))),
    smallWeight: noWeight,
    mask: passMask,
    expectedMacs: null,
    extract: noParams,
    layers: (node, a) => tf.layers.reLU({ name: node.name }).apply(a.value(node.input)) as tf.SymbolicTensor,
  },
  relu6: {
    params: noParams,
    // A fused kernel upstream may already have applied it.
    run: (node, a) => (a.fusion.produced.has(node.id) ? a.value(node.input) : tf.relu6(a.value(node.input))),
    smallWeight: noWeight,
    mask: passMask,
    expectedMacs: null,
    extract: noParams,
    layers: (node, a) => tf.layers.reLU({ maxValue: RELU6_CAP, name: node.name }).apply(a.value(node.input)) as tf.SymbolicTensor,
  },
  maxpool: {
    params: noParams,
    run: (node, a) => maxPool(a.value(node.input) as tf.Tensor4D, node.kernel, node.stride, node.pad),
    smallWeight: noWeight,
    mask: passMask,
    expectedMacs: null,
    extract: noParams,
    // Inputs follow a ReLU, so zero padding equals −∞ padding here.
    layers: (node, a) =>
      tf.layers
        .maxPooling2d({ poolSize: node.kernel, strides: node.stride, padding: 'valid', name: node.name })
        .apply(padded(node.name, a.value(node.input), node.pad)) as tf.SymbolicTensor,
  },
  avgpool: {
    params: noParams,
    run: (node, a) => tf.avgPool(a.value(node.input) as tf.Tensor4D, node.kernel, node.stride, 'valid'),
    smallWeight: noWeight,
    mask: passMask,
    expectedMacs: null,
    extract: noParams,
    layers: (node, a) =>
      tf.layers
        .averagePooling2d({ poolSize: node.kernel, strides: node.stride, padding: 'valid', name: node.name })
        .apply(a.value(node.input)) as tf.SymbolicTensor,
  },
  add: {
    params: noParams,
    run: (node, a) => {
      const small = a.path === 'small';
      const fusedAdd = a.fusion.addBn.get(node.id);
      if (fusedAdd !== undefined) {
        // act(bn(conv)·m + shortcut) in one kernel; the activation node, if any, passes it on.
        const bn = a.graph.nodes[fusedAdd.bn]!;
        if (bn.op !== 'bn') throw new Error(`fusion plan: ${bn.name} is not a batch norm`);
        const n = small ? count(a.selection(node.id)) : node.shape.c;
        const x = a.value(bn.input);
        const residual = sliceChannels(a.value(fusedAdd.other), n);
        const mask = smallMask(a, fusedAdd.bn);
        const otherMask = smallMask(a, fusedAdd.other);
        const bnArgs = { x, layer: bn.name, a, mask };
        const { activation } = fusedAdd;
        if (x.shape[3] === n && mask === otherMask) return batchNorm({ ...bnArgs, residual, activation });
        // An identity shortcut wider than the branch, or carrying another mask:
        // the sum is narrowed and masked as an unfused add would (below).
        const sum = tf.add(sliceChannels(batchNorm(bnArgs), n), residual);
        return activate(applyMask(sum, smallMask(a, node.id)), activation);
      }
      const [x, y] = node.inputs.map((i) => a.value(i)) as [tf.Tensor, tf.Tensor];
      if (!small) return tf.add(x, y);
      const n = count(a.selection(node.id));
      const sum = tf.add(sliceChannels(x, n), sliceChannels(y, n));
      // Equal masks (a tied group) keep the sum masked; where one side is
      // unmasked (identity into a compressed first stage) mask the sum.
      return smallMask(a, node.inputs[0]) === smallMask(a, node.inputs[1]) ? sum : applyMask(sum, smallMask(a, node.id));
    },
    smallWeight: noWeight,
    mask: (node, a) => {
      // Two differently masked tensors carry their product (the narrower prefix when the masks are hard).
      const n = count(a.plan.sel[node.id]!);
      const [ma, mb] = node.inputs.map((i) => a.masks[i] ?? null);
      const ca = ma == null ? null : head(ma, n);
      const cb = mb == null ? null : head(mb, n);
      return ca === null ? cb : cb === null || ca === cb ? ca : (tf.mul(ca, cb) as tf.Tensor1D);
    },
    expectedMacs: null,
    extract: noParams,
    layers: (node, a) => tf.layers.add({ name: node.name }).apply(node.inputs.map((i) => a.value(i))) as tf.SymbolicTensor,
  },
  concat: {
    params: noParams,
    run: (node, a) =>
      tf.concat(
        node.inputs.map((i) => a.value(i)),
        3,
      ),
    smallWeight: noWeight,
    mask: (node, a) => {
      // The pieces' masks, joined.
      const parts = node.inputs.map((i) => a.masks[i] ?? null);
      if (parts.every((m) => m === null)) return null;
      return tf.concat(
        parts.map((m, k) => m ?? tf.ones([count(a.plan.sel[node.inputs[k]!]!)])),
        0,
      ) as tf.Tensor1D;
    },
    expectedMacs: null,
    extract: noParams,
    layers: (node, a) => tf.layers.concatenate({ axis: -1, name: node.name }).apply(node.inputs.map((i) => a.value(i))) as tf.SymbolicTensor,
  },
  gap: {
    params: noParams,
    run: (node, a) => globalAveragePool(a.value(node.input)),
    smallWeight: noWeight,
    mask: passMask,
    expectedMacs: null,
    extract: noParams,
    layers: (node, a) => tf.layers.globalAveragePooling2d({ name: node.name }).apply(a.value(node.input)) as tf.SymbolicTensor,
  },
  dense: {
    params: (node, a) => {
      // PyTorch's default Linear init: U(±1/√fan_in) for weight and bias.
      const cin = a.graph.nodes[node.input]!.shape.c;
      const bound = 1 / Math.sqrt(cin);
      a.trainable.set(
        paramName.weight(node.name),
        makeVar(() => tensorFrom([cin, node.shape.c], () => (2 * a.rng.uniform() - 1) * bound), true),
      );
      a.trainable.set(
        paramName.bias(node.name),
        makeVar(() => tensorFrom([node.shape.c], () => (2 * a.rng.uniform() - 1) * bound), true),
      );
    },
    run: (node, a) => {
      const name = paramName.weight(node.name);
      const b = a.weight(paramName.bias(node.name));
      const ws = a.path === 'full' ? a.weight(name) : a.slicedWeight(name, { rows: a.selection(node.input), cols: node.shape.c });
      return tf.add(tf.matMul(a.value(node.input) as tf.Tensor2D, ws as tf.Tensor2D), b);
    },
    smallWeight: (node, sel) => ({ name: paramName.weight(node.name), slice: { rows: sel[node.input]!, cols: node.shape.c } }),
    // The logits are never masked.
    mask: () => null,
    expectedMacs: (node, width) => tf.mul(width(node.input), node.shape.c),
    extract: (node, a) => {
      const w = a.from.get(paramName.weight(node.name));
      tf.tidy(() => a.copy(paramName.weight(node.name), sliceWeight(w, a.sel[node.input]!, node.shape.c), true));
      a.copy(paramName.bias(node.name), a.from.get(paramName.bias(node.name)), true);
    },
    layers: (node, a) => {
      const layer = tf.layers.dense({ units: node.shape.c, name: node.name });
      a.weights.push({ layer, values: [a.params.get(paramName.weight(node.name)), a.params.get(paramName.bias(node.name))] });
      return layer.apply(a.value(node.input)) as tf.SymbolicTensor;
    },
  },
  slice: {
    params: noParams,
    run: (node, a) => sliceChannels(a.value(node.input), node.shape.c),
    smallWeight: noWeight,
    mask: (node, a) => {
      const m = a.masks[node.input] ?? null;
      return m === null ? null : head(m, node.shape.c);
    },
    expectedMacs: null,
    extract: noParams,
    layers: (node, a) => {
      const src = a.graph.nodes[node.input]!.shape;
      // [h, w, c] → [c, w, h]; crop the leading axis; back to [h, w, c'].
      const t = tf.layers.permute({ dims: [3, 2, 1], name: `${node.name}.to_chw` }).apply(a.value(node.input));
      const cropped = tf.layers
        .cropping2D({
          cropping: [
            [0, src.c - node.shape.c],
            [0, 0],
          ],
          name: `${node.name}.crop`,
        })
        .apply(t);
      return tf.layers.permute({ dims: [3, 2, 1], name: node.name }).apply(cropped) as tf.SymbolicTensor;
    },
  },
} satisfies EngineOps;

/**
 * The entry of a node's op. TypeScript cannot follow that `ENGINE_OPS[node.op]`
 * belongs to that very node, so the pairing is asserted here, once.
 */
export function engineOp<N extends GraphNode>(node: N): EngineOpSpec<N> {
  return ENGINE_OPS[node.op] as unknown as EngineOpSpec<N>;
}
