import type { GraphNode, ModelGraph } from '../../shared/model/graph.js';
import { inputsOf } from '../../shared/model/ops.js';

/**
 * Batch norms whose output only feeds a ReLU, or only a residual add whose
 * output only feeds a ReLU, run as one fused kernel (training and
 * inference). Fusion changes no value, only how many passes over memory a
 * network makes.
 */
export interface FusionPlan {
  /** bn → the relu it feeds. */
  bnRelu: Map<number, number>;
  /** add → the bn on one side, the other operand, and the relu after it. */
  addRelu: Map<number, { bn: number; other: number; relu: number }>;
  /** bn nodes computed later, at their add. */
  deferred: Set<number>;
  /** relu nodes whose value a fused kernel already produced. */
  produced: Set<number>;
}

const fusionPlans = new WeakMap<ModelGraph, FusionPlan>();

export function fusionPlan(graph: ModelGraph): FusionPlan {
  const cached = fusionPlans.get(graph);
  if (cached !== undefined) return cached;
  const consumers = graph.nodes.map(() => [] as number[]);
  for (const node of graph.nodes) for (const i of inputsOf(node)) consumers[i]!.push(node.id);
  const only = (id: number): GraphNode | null => {
    const c = consumers[id]!;
    return c.length === 1 && id !== graph.output ? graph.nodes[c[0]!]! : null;
  };
  const plan: FusionPlan = { bnRelu: new Map(), addRelu: new Map(), deferred: new Set(), produced: new Set() };
  for (const node of graph.nodes) {
    if (node.op !== 'bn') continue;
    const next = only(node.id);
    if (next?.op === 'relu') {
      plan.bnRelu.set(node.id, next.id);
      plan.produced.add(next.id);
    } else if (next?.op === 'add' && !plan.addRelu.has(next.id)) {
      const relu = only(next.id);
      const other = next.inputs[0] === node.id ? next.inputs[1] : next.inputs[0];
      if (relu?.op === 'relu' && other !== node.id) {
        plan.addRelu.set(next.id, { bn: node.id, other, relu: relu.id });
        plan.deferred.add(node.id);
        plan.produced.add(relu.id);
      }
    }
  }
  fusionPlans.set(graph, plan);
  return plan;
}
