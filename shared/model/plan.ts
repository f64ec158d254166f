import { InputError } from '../errors.js';
import { type AlphaSpec, DAN_ALPHAS } from './config.js';
import type { ModelGraph } from './graph.js';
import * as sel from './selection.js';
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
  for (const node of graph.nodes) {
    switch (node.op) {
      case 'input':
        sels.push(sel.prefix(node.shape.c));
        break;
      case 'conv': {
        const a = node.group === null ? 1 : alphas[node.group]!;
        const n = Math.floor(node.shape.c / a);
        if (n < 1) {
          throw new InputError(
            `α=${a} leaves layer ${node.name} with 0 channels in the small network (${node.shape.c} / ${a}); use a larger width or a smaller α`,
            'alpha',
          );
        }
        sels.push(sel.prefix(n));
        break;
      }
      case 'bn':
      case 'relu':
      case 'maxpool':
      case 'avgpool':
      case 'gap':
        sels.push(sels[node.input]!);
        break;
      case 'slice':
        sels.push(sel.prefix(Math.min(node.shape.c, sel.count(sels[node.input]!))));
        break;
      case 'add': {
        // Residual adds join prefixes; where one side is wider (an identity
        // shortcut into a compressed first stage) it passes its leading channels.
        const [a, b] = node.inputs.map((i) => sels[i]!);
        if (!sel.isPrefix(a!) || !sel.isPrefix(b!)) throw new Error(`add ${node.name}: small-path inputs are not prefixes`);
        sels.push(sel.prefix(Math.min(sel.count(a!), sel.count(b!))));
        break;
      }
      case 'concat':
        sels.push(
          sel.concat(
            node.inputs.map((i) => sels[i]!),
            node.inputs.map((i) => graph.nodes[i]!.shape.c),
          ),
        );
        break;
      case 'dense':
        sels.push(sel.prefix(node.shape.c));
        break;
    }
  }
  return { alphas, sel: sels };
}

/** The plan that runs the small path at full width everywhere (α = 1). */
export function fullWidthAlphas(graph: ModelGraph): Record<string, number> {
  return Object.fromEntries(graph.groups.map((g) => [g, 1]));
}
