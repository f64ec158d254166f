import type { ModelGraph } from '../../shared/model/graph.js';

/**
 * The full path of a network as a plain graph: an adjoined conv run by the
 * full path is an ordinary conv over all its weights, with the full path's
 * batch norms (named `<layer>.full.*`, as in a plain network).
 */
export function plainFull(graph: ModelGraph): ModelGraph {
  return {
    ...graph,
    nodes: graph.nodes.map((n) => (n.op === 'conv' ? { ...n, adjoined: false, group: null } : n)),
    groups: [],
  };
}
