import type { GraphNode, ModelGraph } from '../../shared/model/graph.js';
import { inputsOf } from '../../shared/model/ops.js';
import type { Activation } from './activation.js';

/**
 * Batch norms whose output only feeds an activation (ReLU, ReLU6), or only a
 * residual add (whose output may feed an activation in turn), run as one
 * fused kernel, training and inference: act(bn(x) + r). Fusion changes no
 * value, only how many passes over memory a network makes.
 */
export interface FusionPlan {
  /** bn → the activation it applies (its activation node is then `produced`). */
  bnActivation: Map<number, Activation>;
  /** add → the bn on one side, the other operand, and the activation after the add ('none': no activation node fused). */
  addBn: Map<number, { bn: number; other: number; activation: Activation }>;
  /** bn nodes computed later, at their add. */
  deferred: Set<number>;
  /** Activation nodes whose value a fused kernel already produced. */
  produced: Set<number>;
}

/** The activation an activation node applies; null for any other node. */
export function activationOf(node: GraphNode | null): Exclude<Activation, 'none'> | null {
  return node?.op === 'relu' ? 'relu' : node?.op === 'relu6' ? 'relu6' : null;
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
  const plan: FusionPlan = { bnActivation: new Map(), addBn: new Map(), deferred: new Set(), produced: new Set() };
  for (const node of graph.nodes) {
    if (node.op !== 'bn') continue;
    const next = only(node.id);
    const activation = activationOf(next);
    if (next !== null && activation !== null) {
      plan.bnActivation.set(node.id, activation);
      plan.produced.add(next.id);
    } else if (next?.op === 'add' && !plan.addBn.has(next.id)) {
      const other = next.inputs[0] === node.id ? next.inputs[1] : next.inputs[0];
      if (other === node.id) continue;
      const after = only(next.id);
      const act = activationOf(after);
      plan.addBn.set(next.id, { bn: node.id, other, activation: act ?? 'none' });
      plan.deferred.add(node.id);
      if (after !== null && act !== null) plan.produced.add(after.id);
    }
  }
  fusionPlans.set(graph, plan);
  return plan;
}
