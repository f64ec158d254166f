import type { AlphaSpec } from './config.js';
import type { GraphNode, ModelGraph, Shape } from './graph.js';
import { planSmall, type SmallPlan } from './plan.js';
import { count } from './selection.js';

export interface Cost {
  params: number;
  /** Multiply-adds of the conv and dense layers, as torchvision's figures count them. */
  macs: number;
}

export interface LayerCost {
  name: string;
  op: 'conv' | 'bn' | 'dense';
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

function layerCost(node: GraphNode, graph: ModelGraph, cin: number, cout: number): Cost | null {
  switch (node.op) {
    case 'conv': {
      const k2 = node.kernel * node.kernel;
      return { params: k2 * cin * cout, macs: k2 * cin * cout * node.shape.h * node.shape.w };
    }
    case 'bn':
      return { params: 2 * cin, macs: 0 };
    case 'dense':
      return { params: cin * cout + cout, macs: cin * cout };
    default:
      void graph;
      return null;
  }
}

function inputOf(node: GraphNode): number | null {
  return 'input' in node ? node.input : null;
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
    if (node.op !== 'conv' && node.op !== 'bn' && node.op !== 'dense') continue;
    const input = inputOf(node)!;
    const inShape = graph.nodes[input]!.shape;
    const f = layerCost(node, graph, inShape.c, node.shape.c)!;
    let s: Cost | null = null;
    let smallChannels: number | null = null;
    if (plan !== null) {
      const cin = count(plan.sel[input]!);
      const cout = count(plan.sel[node.id]!);
      s = layerCost(node, graph, cin, cout)!;
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
      ...(node.op === 'conv' ? { kernel: node.kernel, stride: node.stride } : {}),
      smallChannels,
      full: f,
      small: s,
    });
  }
  return { full, small: plan === null ? null : small, layers };
}
