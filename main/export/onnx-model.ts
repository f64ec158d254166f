import { ONNX_OPSET } from '../../shared/export.js';
import type { GraphNode, ModelGraph } from '../../shared/model/graph.js';
import { inputsOf } from '../../shared/model/ops.js';
import { toStored } from '../engine/bundle.js';
import type { NetworkParams } from '../engine/params.js';
import { OnnxGraphBuilder } from './onnx-builder.js';
import { onnxOp } from './onnx-ops.js';

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

/**
 * Writes a plain network (an extracted small one, or a full one read at full
 * width) as an ONNX model: NCHW float32 input `input` [N, C, H, W], output
 * `logits` [N, classes] and optionally `probabilities`. Each batch norm that
 * directly follows a convolution is folded into it (weights and a bias);
 * the others (DenseNet's pre-activation ones) become BatchNormalization.
 * The input normalisation is not part of the model (see metadata).
 */
export async function toOnnx(graph: ModelGraph, params: NetworkParams, options: OnnxOptions = {}): Promise<Uint8Array> {
  const stored = await toStored(params.all());
  const weights = new Map([...stored].map(([name, t]) => [name, t.data]));
  const b = new OnnxGraphBuilder(options.float16 === true);
  const consumers = graph.nodes.map(() => 0);
  for (const node of graph.nodes) for (const i of inputsOf(node)) consumers[i]! += 1;
  /** ONNX value name of each graph node's output. */
  const value: string[] = [];
  const folded = new Set<number>();
  const outputNode = graph.nodes[graph.output]!;
  const nameOf = (node: GraphNode): string => (node.id === graph.output ? ONNX_LOGITS : node.name);
  const valueOf = (i: number): string => {
    const v = value[i];
    if (v === undefined) throw new Error(`toOnnx: node ${i} is not lowered yet`);
    return v;
  };
  for (const node of graph.nodes) {
    value.push(onnxOp(node).lower(node, { graph, b, params: weights, value: valueOf, nameOf, consumers, folded, input: ONNX_INPUT }));
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
