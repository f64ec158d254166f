import { GraphBuilder, type ModelGraph } from './graph.js';
import { modelOp } from './ops.js';
import type { SmallPlan } from './plan.js';
import { count } from './selection.js';

/**
 * The small network of a plan as a plain network of its own: each conv as
 * wide as the small path's, concatenations of the small pieces, and identity
 * shortcuts that fed a narrower add keeping their leading channels. Layer
 * names are the full network's, so weights carry over by name. What `small`
 * and `kd` runs train, and what `extractSmall` fills with an adjoined
 * network's weights.
 */
export function smallNetworkGraph(graph: ModelGraph, plan: SmallPlan): ModelGraph {
  const builder = new GraphBuilder(graph.config);
  const map: number[] = [];
  for (const node of graph.nodes) map.push(modelOp(node).small(node, { builder, map, channels: count(plan.sel[node.id]!) }));
  return builder.finish(map[graph.output]!);
}
