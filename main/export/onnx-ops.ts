import type { ConvNode, DepthwiseNode, GraphNode, ModelGraph } from '../../shared/model/graph.js';
import type { NodeOf, Op } from '../../shared/model/ops.js';
import { RELU6_CAP } from '../engine/activation.js';
import { BN_EPSILON } from '../engine/ops.js';
import { paramName } from '../engine/params.js';
import { foldBatchNorm, hwioToOihw, type BatchNormValues } from './fold.js';
import type { OnnxGraphBuilder } from './onnx-builder.js';

/**
 * Each graph op as ONNX operators, one entry per op (the model and the
 * engine keep tables of the same shape: shared/model/ops.ts,
 * main/engine/ops.ts). An entry adds its nodes and returns the name of the
 * value holding the op's output.
 */
export interface OnnxOpSpec<N extends GraphNode> {
  lower(node: N, a: OnnxArgs): string;
}

export type OnnxOps = { readonly [K in Op]: OnnxOpSpec<NodeOf<K>> };

export interface OnnxArgs {
  graph: ModelGraph;
  b: OnnxGraphBuilder;
  /** Every weight of the network, read once (a GPU backend reads its tensors asynchronously). */
  params: WeightValues;
  /** The ONNX value of an earlier node's output. */
  value(i: number): string;
  /** The name a node's output is written under (the network's output is `logits`). */
  nameOf(node: GraphNode): string;
  /** How many nodes read each node. */
  consumers: readonly number[];
  /** Batch norms already folded into the convolution before them. */
  folded: Set<number>;
  /** The network's input value. */
  input: string;
}

/** A network's weights by name, read from wherever the backend keeps them. */
export type WeightValues = ReadonlyMap<string, Float32Array>;

export function values(params: WeightValues, name: string): Float32Array {
  const v = params.get(name);
  if (v === undefined) throw new Error(`the network has no parameter ${name}`);
  return v;
}

function bnValues(params: WeightValues, layer: string): BatchNormValues {
  return {
    gamma: values(params, paramName.gamma(layer, 'full')),
    beta: values(params, paramName.beta(layer, 'full')),
    mean: values(params, paramName.mean(layer, 'full')),
    variance: values(params, paramName.variance(layer, 'full')),
    epsilon: BN_EPSILON,
  };
}

/** A one-input operator writing the node's output. */
function unary(opType: string, node: GraphNode & { input: number }, a: OnnxArgs, attrs: Parameters<OnnxGraphBuilder['node']>[3] = {}): string {
  const out = a.nameOf(node);
  a.b.node(opType, [a.value(node.input)], [out], attrs);
  return out;
}

/**
 * A Conv of `group` groups with OIHW weights `w` ([cout, cinPerGroup, k, k]),
 * folding in the batch norm that alone reads it: one Conv with a bias.
 */
function convolution(node: ConvNode | DepthwiseNode, a: OnnxArgs, w: Float32Array, cinPerGroup: number, group: number): string {
  const cout = node.shape.c;
  let weight = w;
  let bias: Float32Array | null = null;
  const next = a.graph.nodes.find((n) => n.op === 'bn' && n.input === node.id);
  let out = a.nameOf(node);
  if (next !== undefined && a.consumers[node.id] === 1) {
    ({ weight, bias } = foldBatchNorm(w, cout, bnValues(a.params, next.name)));
    a.folded.add(next.id);
    out = a.nameOf(next);
  }
  const inputs = [a.value(node.input), a.b.weight(`${node.name}.weight`, [cout, cinPerGroup, node.kernel, node.kernel], weight)];
  if (bias !== null) inputs.push(a.b.weight(`${node.name}.bias`, [cout], bias));
  const p = node.pad;
  a.b.node('Conv', inputs, [out], {
    kernel_shape: [node.kernel, node.kernel],
    strides: [node.stride, node.stride],
    pads: [p, p, p, p],
    dilations: [1, 1],
    group,
  });
  return out;
}

export const ONNX_OPS = {
  input: {
    lower: (node, a) => {
      a.b.input(a.input, ['N', node.shape.c, node.shape.h, node.shape.w]);
      return a.input;
    },
  },
  conv: {
    lower: (node, a) => {
      if (node.adjoined) throw new Error(`toOnnx needs a plain network; ${node.name} is adjoined (extract it first)`);
      const cin = a.graph.nodes[node.input]!.shape.c;
      const cout = node.shape.c;
      const w = hwioToOihw(values(a.params, paramName.weight(node.name)), node.kernel, node.kernel, cin, cout);
      return convolution(node, a, w, cin, 1);
    },
  },
  dwconv: {
    lower: (node, a) => {
      const c = node.shape.c;
      // [k, k, C, 1] lies in memory as [k, k, 1, C]: as OIHW, [C, 1, k, k], one filter per group.
      const w = hwioToOihw(values(a.params, paramName.weight(node.name)), node.kernel, node.kernel, 1, c);
      return convolution(node, a, w, 1, c);
    },
  },
  bn: {
    lower: (node, a) => {
      // Folded into the convolution before it: that Conv wrote this node's output.
      if (a.folded.has(node.id)) return a.value(node.input);
      const v = bnValues(a.params, node.name);
      const c = node.shape.c;
      const out = a.nameOf(node);
      a.b.node(
        'BatchNormalization',
        [
          a.value(node.input),
          a.b.weight(`${node.name}.gamma`, [c], v.gamma),
          a.b.weight(`${node.name}.beta`, [c], v.beta),
          a.b.weight(`${node.name}.mean`, [c], v.mean),
          a.b.weight(`${node.name}.var`, [c], v.variance),
        ],
        [out],
        { epsilon: { float: BN_EPSILON } },
      );
      return out;
    },
  },
  relu: { lower: (node, a) => unary('Relu', node, a) },
  relu6: {
    // Opset 13 Clip reads its bounds from (scalar) inputs.
    lower: (node, a) => {
      const out = a.nameOf(node);
      const min = a.b.weight(`${node.name}.min`, [], Float32Array.of(0));
      const max = a.b.weight(`${node.name}.max`, [], Float32Array.of(RELU6_CAP));
      a.b.node('Clip', [a.value(node.input), min, max], [out]);
      return out;
    },
  },
  maxpool: {
    // ONNX pads MaxPool with −∞, the engine with 0; equal here, as the input follows a ReLU.
    lower: (node, a) =>
      unary('MaxPool', node, a, {
        kernel_shape: [node.kernel, node.kernel],
        strides: [node.stride, node.stride],
        pads: [node.pad, node.pad, node.pad, node.pad],
      }),
  },
  avgpool: {
    lower: (node, a) => unary('AveragePool', node, a, { kernel_shape: [node.kernel, node.kernel], strides: [node.stride, node.stride] }),
  },
  add: {
    lower: (node, a) => {
      const out = a.nameOf(node);
      a.b.node(
        'Add',
        node.inputs.map((i) => a.value(i)),
        [out],
      );
      return out;
    },
  },
  concat: {
    lower: (node, a) => {
      const out = a.nameOf(node);
      a.b.node(
        'Concat',
        node.inputs.map((i) => a.value(i)),
        [out],
        { axis: 1 },
      );
      return out;
    },
  },
  gap: {
    lower: (node, a) => {
      const pooled = `${node.name}.pooled`;
      const out = a.nameOf(node);
      a.b.node('GlobalAveragePool', [a.value(node.input)], [pooled]);
      a.b.node('Flatten', [pooled], [out], { axis: 1 });
      return out;
    },
  },
  dense: {
    lower: (node, a) => {
      const cin = a.graph.nodes[node.input]!.shape.c;
      const cout = node.shape.c;
      const out = a.nameOf(node);
      // The engine's dense weight is [in, out]: Gemm's B as is (transB = 0).
      a.b.node(
        'Gemm',
        [
          a.value(node.input),
          a.b.weight(`${node.name}.weight`, [cin, cout], values(a.params, paramName.weight(node.name))),
          a.b.weight(`${node.name}.bias`, [cout], values(a.params, paramName.bias(node.name))),
        ],
        [out],
      );
      return out;
    },
  },
  slice: {
    lower: (node, a) => {
      const out = a.nameOf(node);
      // Opset 13 Slice reads starts, ends and axes from tensors: keep the leading channels.
      a.b.node(
        'Slice',
        [a.value(node.input), a.b.int64(`${node.name}.starts`, [0]), a.b.int64(`${node.name}.ends`, [node.shape.c]), a.b.int64(`${node.name}.axes`, [1])],
        [out],
      );
      return out;
    },
  },
} satisfies OnnxOps;

/**
 * The entry of a node's op. TypeScript cannot follow that `ONNX_OPS[node.op]`
 * belongs to that very node, so the pairing is asserted here, once.
 */
export function onnxOp<N extends GraphNode>(node: N): OnnxOpSpec<N> {
  return ONNX_OPS[node.op] as unknown as OnnxOpSpec<N>;
}
