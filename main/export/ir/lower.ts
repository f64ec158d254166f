import type { ConvNode, DepthwiseNode, GraphNode, ModelGraph } from '../../../shared/model/graph.js';
import { inputsOf } from '../../../shared/model/ops.js';
import { RELU6_CAP } from '../../engine/activation.js';
import { toStored } from '../../engine/bundle.js';
import { BN_EPSILON } from '../../engine/forward.js';
import { type NetworkParams, paramName } from '../../engine/params.js';
import { batchNormAffine, type BatchNormValues } from '../fold.js';
import type { InferenceGraph, IrOp, IrTensor } from './inference-graph.js';

/** A network's weights by name, read once (a GPU backend reads its tensors asynchronously). */
type WeightValues = ReadonlyMap<string, Float32Array>;

function values(params: WeightValues, name: string): Float32Array {
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

/** What a lowering rule sees: the graph, its weights, and the graph being built. */
class LowerContext {
  readonly tensors: IrTensor[] = [];
  readonly ops: IrOp[] = [];
  /** The tensor holding each graph node's value (absorbed nodes share their absorber's). */
  readonly tensorOf = new Map<number, number>();
  private readonly consumers: number[][];

  constructor(
    readonly graph: ModelGraph,
    readonly params: WeightValues,
  ) {
    this.consumers = graph.nodes.map(() => []);
    for (const node of graph.nodes) for (const i of inputsOf(node)) this.consumers[i]!.push(node.id);
  }

  /** The one node that reads `node`, if exactly one does and `node` is not the output: it can be fused in. */
  onlyConsumer(node: GraphNode): GraphNode | null {
    const c = this.consumers[node.id]!;
    return c.length === 1 && node.id !== this.graph.output ? this.graph.nodes[c[0]!]! : null;
  }

  /** A ReLU that alone reads `node`, fused into the op that computes it. */
  fusedRelu(node: GraphNode): GraphNode | null {
    const next = this.onlyConsumer(node);
    return next?.op === 'relu' ? next : null;
  }

  input(id: number): number {
    const t = this.tensorOf.get(id);
    if (t === undefined) throw new Error(`lowering: ${this.graph.nodes[id]!.name} was read before it was computed`);
    return t;
  }

  tensor(nodes: readonly GraphNode[], shape: readonly number[], nonNegative: boolean): number {
    const last = nodes[nodes.length - 1]!;
    const id = this.tensors.length;
    this.tensors.push({ id, name: last.name, shape, nonNegative });
    for (const n of nodes) this.tensorOf.set(n.id, id);
    return id;
  }

  isNonNegative(tensor: number): boolean {
    return this.tensors[tensor]!.nonNegative;
  }

  weights(name: string): Float32Array {
    return values(this.params, name);
  }

  bn(layer: string): BatchNormValues {
    return bnValues(this.params, layer);
  }
}

const featureShape = (node: GraphNode): number[] => [node.shape.h, node.shape.w, node.shape.c];

/**
 * A convolution (its output channels the last axis of `weight`) with the
 * batch norm and the ReLU that alone follow it folded in:
 * bn(conv(x, W)) = conv(x, W·s) + (β − μ·s), s = γ/√(σ² + ε), per output channel.
 */
function lowerConvolution(node: ConvNode | DepthwiseNode, ctx: LowerContext, filters: Float32Array, depthwise: boolean): void {
  const cout = node.shape.c;
  let weight = filters;
  let bias = new Float32Array(cout);
  const absorbed: GraphNode[] = [node];
  const next = ctx.onlyConsumer(node);
  if (next?.op === 'bn') {
    const { scale, shift } = batchNormAffine(ctx.bn(next.name));
    weight = filters.map((w, k) => Math.fround(w * scale[k % cout]!));
    bias = Float32Array.from(shift);
    absorbed.push(next);
  }
  const relu = ctx.fusedRelu(absorbed[absorbed.length - 1]!);
  if (relu !== null) absorbed.push(relu);
  const output = ctx.tensor(absorbed, featureShape(node), relu !== null);
  ctx.ops.push({
    op: 'conv',
    name: node.name,
    input: ctx.input(node.input),
    output,
    kernel: node.kernel,
    stride: node.stride,
    pad: node.pad,
    depthwise,
    weight,
    bias,
    relu: relu !== null,
  });
}

type Lowering = { [K in GraphNode['op']]: (node: Extract<GraphNode, { op: K }>, ctx: LowerContext) => void };

/**
 * One rule per graph operation. A rule may absorb the nodes that follow
 * (the batch norm after a convolution, the ReLU after either): it maps them
 * to its own output tensor, and the walk skips them.
 */
const LOWERINGS: Lowering = {
  input: (node, ctx) => void ctx.tensor([node], featureShape(node), false),
  conv(node, ctx) {
    if (node.adjoined) throw new Error(`export needs a plain network; ${node.name} is adjoined (extract it first)`);
    const cin = ctx.graph.nodes[node.input]!.shape.c;
    const weight = ctx.weights(paramName.weight(node.name));
    if (weight.length !== node.kernel * node.kernel * cin * node.shape.c) {
      throw new Error(`${node.name}: ${weight.length} weights for a ${node.kernel}×${node.kernel}×${cin}×${node.shape.c} convolution`);
    }
    lowerConvolution(node, ctx, weight, false);
  },
  dwconv(node, ctx) {
    // The engine's [k, k, C, 1] filters lie in memory as the IR's depthwise [k, k, C].
    const weight = ctx.weights(paramName.weight(node.name));
    if (weight.length !== node.kernel * node.kernel * node.shape.c) {
      throw new Error(`${node.name}: ${weight.length} weights for a ${node.kernel}×${node.kernel} depthwise convolution of ${node.shape.c} channels`);
    }
    lowerConvolution(node, ctx, weight, true);
  },
  bn(node, ctx) {
    // A batch norm no convolution precedes (DenseNet's pre-activation ones,
    // after a concatenation) is x·s + t per channel: a 1×1 depthwise convolution.
    const { scale, shift } = batchNormAffine(ctx.bn(node.name));
    const relu = ctx.fusedRelu(node);
    const output = ctx.tensor(relu === null ? [node] : [node, relu], featureShape(node), relu !== null);
    ctx.ops.push({
      op: 'conv',
      name: node.name,
      input: ctx.input(node.input),
      output,
      kernel: 1,
      stride: 1,
      pad: 0,
      depthwise: true,
      weight: Float32Array.from(scale),
      bias: Float32Array.from(shift),
      relu: relu !== null,
    });
  },
  relu(node, ctx) {
    const output = ctx.tensor([node], featureShape(node), true);
    ctx.ops.push({ op: 'relu', name: node.name, input: ctx.input(node.input), output, cap: null });
  },
  relu6(node, ctx) {
    // Not fused: TFLite and ONNX both have a ReLU6 of its own (RELU6, Clip), and int8 keeps its [0, 6] range.
    const output = ctx.tensor([node], featureShape(node), true);
    ctx.ops.push({ op: 'relu', name: node.name, input: ctx.input(node.input), output, cap: RELU6_CAP });
  },
  maxpool(node, ctx) {
    const input = ctx.input(node.input);
    if (node.pad > 0 && !ctx.isNonNegative(input)) {
      throw new Error(`${node.name}: the engine pads max-pooling with 0, which equals the −∞ padding of runtimes only after a ReLU`);
    }
    const output = ctx.tensor([node], featureShape(node), ctx.isNonNegative(input));
    ctx.ops.push({ op: 'maxpool', name: node.name, input, output, kernel: node.kernel, stride: node.stride, pad: node.pad });
  },
  avgpool(node, ctx) {
    const input = ctx.input(node.input);
    const output = ctx.tensor([node], featureShape(node), ctx.isNonNegative(input));
    ctx.ops.push({ op: 'avgpool', name: node.name, input, output, kernel: node.kernel, stride: node.stride });
  },
  add(node, ctx) {
    const relu = ctx.fusedRelu(node);
    const inputs = [ctx.input(node.inputs[0]), ctx.input(node.inputs[1])] as const;
    const output = ctx.tensor(relu === null ? [node] : [node, relu], featureShape(node), relu !== null);
    ctx.ops.push({ op: 'add', name: node.name, inputs, output, relu: relu !== null });
  },
  concat(node, ctx) {
    const inputs = node.inputs.map((i) => ctx.input(i));
    const output = ctx.tensor(
      [node],
      featureShape(node),
      inputs.every((t) => ctx.isNonNegative(t)),
    );
    ctx.ops.push({ op: 'concat', name: node.name, inputs, output });
  },
  gap(node, ctx) {
    const input = ctx.input(node.input);
    const output = ctx.tensor([node], [node.shape.c], ctx.isNonNegative(input));
    ctx.ops.push({ op: 'mean', name: node.name, input, output });
  },
  dense(node, ctx) {
    const cin = ctx.graph.nodes[node.input]!.shape.c;
    const weight = ctx.weights(paramName.weight(node.name));
    if (weight.length !== cin * node.shape.c) throw new Error(`${node.name}: ${weight.length} weights for a ${cin}×${node.shape.c} dense layer`);
    const output = ctx.tensor([node], [node.shape.c], false);
    ctx.ops.push({ op: 'dense', name: node.name, input: ctx.input(node.input), output, weight, bias: ctx.weights(paramName.bias(node.name)) });
  },
  slice(node, ctx) {
    const input = ctx.input(node.input);
    const output = ctx.tensor([node], featureShape(node), ctx.isNonNegative(input));
    ctx.ops.push({ op: 'slice', name: node.name, input, output });
  },
};

/**
 * Lowers a plain network (an extracted small network, or `plainFull`) for
 * export. Numerically it computes what the engine computes in inference
 * mode, up to float rounding of the folded weights.
 */
export async function lowerForInference(graph: ModelGraph, params: NetworkParams): Promise<InferenceGraph> {
  const stored = await toStored(params.all());
  const ctx = new LowerContext(graph, new Map([...stored].map(([name, t]) => [name, t.data])));
  for (const node of graph.nodes) {
    if (ctx.tensorOf.has(node.id)) continue;
    (LOWERINGS[node.op] as (n: GraphNode, c: LowerContext) => void)(node, ctx);
  }
  const outputNode = graph.nodes[graph.output]!;
  if (outputNode.op !== 'dense') throw new Error(`the network ends in ${outputNode.op}, not a dense layer`);
  return { tensors: ctx.tensors, ops: ctx.ops, input: 0, output: ctx.input(graph.output) };
}
