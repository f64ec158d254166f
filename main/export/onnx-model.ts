import { assertNever } from '../../shared/errors.js';
import { ONNX_OPSET } from '../../shared/export.js';
import type { GraphNode, ModelGraph } from '../../shared/model/graph.js';
import { toStored } from '../engine/bundle.js';
import { BN_EPSILON } from '../engine/forward.js';
import { type NetworkParams, paramName } from '../engine/params.js';
import { foldBatchNorm, hwioToOihw, type BatchNormValues } from './fold.js';
import { OnnxGraphBuilder } from './onnx-builder.js';

export const ONNX_INPUT = 'input';
export const ONNX_LOGITS = 'logits';
export const ONNX_PROBABILITIES = 'probabilities';

export interface OnnxOptions {
  /** Half-precision weights (the model still takes and returns float32). */
  float16?: boolean;
  /** Add a Softmax output `probabilities` next to `logits` (default true). */
  probabilities?: boolean;
  /** Written into the model's metadata_props. */
  metadata?: Record<string, string>;
  name?: string;
}

/** Every weight of a network, read once from wherever the backend keeps it. */
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

function inputsOf(node: GraphNode): readonly number[] {
  return 'inputs' in node ? node.inputs : 'input' in node ? [node.input] : [];
}

/**
 * Writes a plain network (an extracted small one, or a full one read at full
 * width) as an ONNX model: NCHW float32 input `input` [N, C, H, W], output
 * `logits` [N, classes] and optionally `probabilities`. Each batch norm that
 * directly follows a convolution is folded into it (weights and a bias);
 * the others (DenseNet's pre-activation ones) become BatchNormalization.
 * The input normalisation is not part of the model (see metadata).
 */
export async function toOnnx(graph: ModelGraph, network: NetworkParams, options: OnnxOptions = {}): Promise<Uint8Array> {
  // Read asynchronously, all at once: a GPU backend (webgpu) has no synchronous read.
  const params: WeightValues = new Map([...(await toStored(network.all()))].map(([name, t]) => [name, t.data]));
  const b = new OnnxGraphBuilder(options.float16 === true);
  const consumers = graph.nodes.map(() => 0);
  for (const node of graph.nodes) for (const i of inputsOf(node)) consumers[i]! += 1;
  /** ONNX value name of each graph node's output. */
  const value: string[] = [];
  const folded = new Set<number>();
  const outputNode = graph.nodes[graph.output]!;
  const nameOf = (node: GraphNode): string => (node.id === graph.output ? ONNX_LOGITS : node.name);

  for (const node of graph.nodes) {
    switch (node.op) {
      case 'input':
        b.input(ONNX_INPUT, ['N', node.shape.c, node.shape.h, node.shape.w]);
        value.push(ONNX_INPUT);
        break;
      case 'conv': {
        if (node.adjoined) throw new Error(`toOnnx needs a plain network; ${node.name} is adjoined (extract it first)`);
        const cin = graph.nodes[node.input]!.shape.c;
        const cout = node.shape.c;
        let w = hwioToOihw(values(params, paramName.weight(node.name)), node.kernel, node.kernel, cin, cout);
        let bias: Float32Array | null = null;
        // Fold the batch norm that alone reads this conv: one Conv with a bias.
        const next = graph.nodes.find((n) => n.op === 'bn' && n.input === node.id);
        let out = nameOf(node);
        if (next !== undefined && consumers[node.id] === 1) {
          ({ weight: w, bias } = foldBatchNorm(w, cout, bnValues(params, next.name)));
          folded.add(next.id);
          out = nameOf(next);
        }
        const inputs = [value[node.input]!, b.weight(`${node.name}.weight`, [cout, cin, node.kernel, node.kernel], w)];
        if (bias !== null) inputs.push(b.weight(`${node.name}.bias`, [cout], bias));
        const p = node.pad;
        b.node('Conv', inputs, [out], {
          kernel_shape: [node.kernel, node.kernel],
          strides: [node.stride, node.stride],
          pads: [p, p, p, p],
          dilations: [1, 1],
          group: 1,
        });
        value.push(out);
        break;
      }
      case 'bn': {
        if (folded.has(node.id)) {
          value.push(value[node.input]!);
          break;
        }
        const v = bnValues(params, node.name);
        const c = node.shape.c;
        b.node(
          'BatchNormalization',
          [
            value[node.input]!,
            b.weight(`${node.name}.gamma`, [c], v.gamma),
            b.weight(`${node.name}.beta`, [c], v.beta),
            b.weight(`${node.name}.mean`, [c], v.mean),
            b.weight(`${node.name}.var`, [c], v.variance),
          ],
          [nameOf(node)],
          { epsilon: { float: BN_EPSILON } },
        );
        value.push(nameOf(node));
        break;
      }
      case 'relu':
        b.node('Relu', [value[node.input]!], [nameOf(node)]);
        value.push(nameOf(node));
        break;
      case 'maxpool': {
        // ONNX pads MaxPool with −∞, the engine with 0; equal here, as the input follows a ReLU.
        const p = node.pad;
        b.node('MaxPool', [value[node.input]!], [nameOf(node)], {
          kernel_shape: [node.kernel, node.kernel],
          strides: [node.stride, node.stride],
          pads: [p, p, p, p],
        });
        value.push(nameOf(node));
        break;
      }
      case 'avgpool':
        b.node('AveragePool', [value[node.input]!], [nameOf(node)], {
          kernel_shape: [node.kernel, node.kernel],
          strides: [node.stride, node.stride],
        });
        value.push(nameOf(node));
        break;
      case 'add':
        b.node(
          'Add',
          node.inputs.map((i) => value[i]!),
          [nameOf(node)],
        );
        value.push(nameOf(node));
        break;
      case 'concat':
        b.node(
          'Concat',
          node.inputs.map((i) => value[i]!),
          [nameOf(node)],
          { axis: 1 },
        );
        value.push(nameOf(node));
        break;
      case 'gap': {
        const pooled = `${node.name}.pooled`;
        b.node('GlobalAveragePool', [value[node.input]!], [pooled]);
        b.node('Flatten', [pooled], [nameOf(node)], { axis: 1 });
        value.push(nameOf(node));
        break;
      }
      case 'dense': {
        const cin = graph.nodes[node.input]!.shape.c;
        const cout = node.shape.c;
        // The engine's dense weight is [in, out]: Gemm's B as is (transB = 0).
        b.node(
          'Gemm',
          [
            value[node.input]!,
            b.weight(`${node.name}.weight`, [cin, cout], values(params, paramName.weight(node.name))),
            b.weight(`${node.name}.bias`, [cout], values(params, paramName.bias(node.name))),
          ],
          [nameOf(node)],
        );
        value.push(nameOf(node));
        break;
      }
      case 'slice':
        // Opset 13 Slice reads starts, ends and axes from tensors: keep the leading channels.
        b.node(
          'Slice',
          [value[node.input]!, b.int64(`${node.name}.starts`, [0]), b.int64(`${node.name}.ends`, [node.shape.c]), b.int64(`${node.name}.axes`, [1])],
          [nameOf(node)],
        );
        value.push(nameOf(node));
        break;
      default:
        assertNever(node, 'graph node');
    }
  }
  if (outputNode.op !== 'dense') throw new Error(`the network ends in ${outputNode.op}, not a dense layer`);
  const classes = outputNode.shape.c;
  b.output(ONNX_LOGITS, ['N', classes]);
  if (options.probabilities !== false) {
    b.node('Softmax', [ONNX_LOGITS], [ONNX_PROBABILITIES], { axis: 1 });
    b.output(ONNX_PROBABILITIES, ['N', classes]);
  }
  return b.encode({
    name: options.name ?? 'adjoin',
    opset: ONNX_OPSET,
    docString: `${graph.config.arch} (${graph.config.stem} stem, width ${graph.config.width}) exported by Adjoin`,
    metadata: options.metadata ?? {},
  });
}
