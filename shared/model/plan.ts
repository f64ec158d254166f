import { InputError } from '../errors.js';
import { type AlphaSpec, DAN_ALPHAS } from './config.js';
import type { ModelGraph } from './graph.js';
import { modelOp } from './ops.js';
import type { Selection } from './selection.js';

/**
 * The small network of an adjoined model: for every node, which channels of
 * the full tensor the small path carries. Every tensor of the small path is a
 * known selection of the full one, and the small path uses exactly the
 * matching rows and columns of the shared weights (docs/ARCHITECTURE.md, "The method in the code").
 */
export interface SmallPlan {
  /** α per width group. */
  alphas: Readonly<Record<string, number>>;
  /** Selection of the small path's tensor at each node. */
  sel: readonly Selection[];
}

/** Expands a global α or checks a per-group α map against the graph's groups. */
export function resolveAlphas(graph: ModelGraph, alpha: AlphaSpec): Record<string, number> {
  const out: Record<string, number> = {};
  if (typeof alpha === 'number') {
    for (const g of graph.groups) out[g] = alpha;
    return out;
  }
  for (const g of graph.groups) {
    const a = alpha[g];
    if (a === undefined) throw new InputError(`the α map has no entry for width group '${g}'`, 'alpha');
    if (!(DAN_ALPHAS as readonly number[]).includes(a)) {
      throw new InputError(`α for group '${g}' must be one of ${DAN_ALPHAS.join(', ')}, got ${a}`, 'alpha');
    }
    out[g] = a;
  }
  for (const g of Object.keys(alpha)) {
    if (!graph.groups.includes(g)) throw new InputError(`the α map names an unknown width group '${g}'`, 'alpha');
  }
  return out;
}

export function planSmall(graph: ModelGraph, alpha: AlphaSpec): SmallPlan {
  const alphas = resolveAlphas(graph, alpha);
  const sels: Selection[] = [];
  for (const node of graph.nodes) sels.push(modelOp(node).select(node, { graph, alphas, sels }));
  return { alphas, sel: sels };
}

/** The plan that runs the small path at full width everywhere (α = 1). */
export function fullWidthAlphas(graph: ModelGraph): Record<string, number> {
  return Object.fromEntries(graph.groups.map((g) => [g, 1]));
}
