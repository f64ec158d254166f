import type { AlphaSpec } from './config.js';
import type { ModelGraph, Shape } from './graph.js';
import { inputsOf, modelOp, type Op } from './ops.js';
import { planSmall, type SmallPlan } from './plan.js';
import { count } from './selection.js';

export interface Cost {
  params: number;
  /** Multiply-adds of the conv and dense layers, as torchvision's figures count them. */
  macs: number;
}

export interface LayerCost {
  name: string;
  /** An op with weights or multiply-adds: conv, bn, dense. */
  op: Op;
  input: Shape;
  output: Shape;
  kernel?: number;
  stride?: number;
  /** Output channels in the small network (input channels for bn layers). */
  smallChannels: number | null;
  full: Cost;
  small: Cost | null;
}

export interface CostReport {
  full: Cost;
  small: Cost | null;
  layers: LayerCost[];
}

/**
 * Parameters and MACs of the full network and, given α, of its small network,
 * per layer and in total. Batch-norm layers count their scale and shift.
 */
export function costReport(graph: ModelGraph, alpha: AlphaSpec | null = null): CostReport {
  const plan: SmallPlan | null = alpha === null ? null : planSmall(graph, alpha);
  const layers: LayerCost[] = [];
  const full: Cost = { params: 0, macs: 0 };
  const small: Cost = { params: 0, macs: 0 };
  for (const node of graph.nodes) {
    const cost = modelOp(node).cost;
    if (cost === null) continue;
    const input = inputsOf(node)[0]!;
    const inShape = graph.nodes[input]!.shape;
    const f = cost(node, inShape.c, node.shape.c);
    let s: Cost | null = null;
    let smallChannels: number | null = null;
    if (plan !== null) {
      const cin = count(plan.sel[input]!);
      const cout = count(plan.sel[node.id]!);
      s = cost(node, cin, cout);
      smallChannels = cout;
      small.params += s.params;
      small.macs += s.macs;
    }
    full.params += f.params;
    full.macs += f.macs;
    layers.push({
      name: node.name,
      op: node.op,
      input: inShape,
      output: node.shape,
      ...('kernel' in node ? { kernel: node.kernel, stride: node.stride } : {}),
      smallChannels,
      full: f,
      small: s,
    });
  }
  return { full, small: plan === null ? null : small, layers };
}
