import { DAN_ALPHAS, type ModelConfig } from './model/config.js';
import { assertNever, InputError } from './errors.js';
import { costReport } from './model/cost.js';
import { buildGraph } from './model/graph.js';

/** How a user states a search's budget: MACs, a share of the full network's, or the MACs of fixed α. */
export type BudgetRequest = { kind: 'macs'; macs: number } | { kind: 'ratio'; ratio: number } | { kind: 'alpha'; alpha: number };

/** Small-network MACs at the ends of a search space (every group at its largest α: min; at its smallest: max) and the full network's. */
export interface FeasibleRange {
  min: number;
  max: number;
  full: number;
}

export function feasibleMacs(model: ModelConfig, space: readonly number[]): FeasibleRange {
  const graph = buildGraph(model);
  const at = (alpha: number): number => costReport(graph, alpha).small!.macs;
  return { min: at(Math.max(...space)), max: at(Math.min(...space)), full: costReport(graph).full.macs };
}

/** 8800000 → "8.80 M". */
export function formatMacs(macs: number): string {
  if (macs >= 1e9) return `${(macs / 1e9).toFixed(2)} G`;
  if (macs >= 1e6) return `${(macs / 1e6).toFixed(2)} M`;
  if (macs >= 1e3) return `${(macs / 1e3).toFixed(2)} K`;
  return String(Math.round(macs));
}

/** "8.8M", "880K", "1.2G", "8800000" or "8.8e6" → MACs. */
export function parseMacs(text: string, field: string): number {
  const m = /^\s*([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*([kKmMgG]?)\s*$/.exec(text);
  const scale = { '': 1, k: 1e3, m: 1e6, g: 1e9 } as const;
  const value = m === null ? NaN : Number(m[1]) * scale[(m[2] ?? '').toLowerCase() as keyof typeof scale];
  if (!Number.isFinite(value) || value <= 0) throw new InputError(`a MACs target must be a positive number such as 8.8M or 880K, got '${text}'`, field);
  return value;
}

/** The field a request came from, to name in errors (the CLI's flags). */
const FIELD: Record<BudgetRequest['kind'], string> = { macs: 'target-macs', ratio: 'target-ratio', alpha: 'match-alpha' };

/**
 * The MACs target of a request on this network and space, checked against
 * the space's feasible range (a target outside it cannot be met by any
 * choice of widths).
 */
export function resolveBudget(model: ModelConfig, space: readonly number[], request: BudgetRequest): { targetMacs: number; feasible: FeasibleRange } {
  const feasible = feasibleMacs(model, space);
  const field = FIELD[request.kind];
  let targetMacs: number;
  switch (request.kind) {
    case 'macs':
      targetMacs = request.macs;
      break;
    case 'ratio':
      if (!Number.isFinite(request.ratio) || request.ratio <= 0 || request.ratio > 1) {
        throw new InputError(`the target ratio is a share of the full network's MACs in (0, 1], got ${request.ratio}`, field);
      }
      targetMacs = request.ratio * feasible.full;
      break;
    case 'alpha':
      if (!(DAN_ALPHAS as readonly number[]).includes(request.alpha)) {
        throw new InputError(`the α to match must be one of ${DAN_ALPHAS.join(', ')}, got ${request.alpha}`, field);
      }
      targetMacs = costReport(buildGraph(model), request.alpha).small!.macs;
      break;
    default:
      return assertNever(request, 'budget request');
  }
  // Rounding in a ratio must not push the ends of the range out of it.
  const slack = 1e-9 * feasible.max;
  if (targetMacs < feasible.min - slack || targetMacs > feasible.max + slack) {
    throw new InputError(
      `the target ${formatMacs(targetMacs)} MACs is outside what this search space can reach: ${formatMacs(feasible.min)} (every group at α = ${Math.max(...space)}) to ${formatMacs(feasible.max)} (every group at α = ${Math.min(...space)})`,
      field,
    );
  }
  return { targetMacs: Math.round(targetMacs), feasible };
}

/** A small seeded generator (mulberry32) for choices that must repeat from a seed in any process. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A random architecture of the space within ±tolerance of a MACs target:
 * α drawn uniformly per group, redrawn until the network lands in the band
 * (so every configuration in the band is equally likely) — the random
 * baseline a searched network must beat at the same cost.
 */
export function randomWithinBudget(
  model: ModelConfig,
  space: readonly number[],
  targetMacs: number,
  tolerance: number,
  seed: number,
  maxDraws = 200_000,
): { alphas: Record<string, number>; macs: number; draws: number } {
  const graph = buildGraph(model);
  const next = seeded(seed);
  for (let draws = 1; draws <= maxDraws; draws++) {
    const alphas = Object.fromEntries(graph.groups.map((g) => [g, space[Math.floor(next() * space.length)]!]));
    const macs = costReport(graph, alphas).small!.macs;
    if (Math.abs(macs / targetMacs - 1) <= tolerance) return { alphas, macs, draws };
  }
  throw new InputError(
    `no random architecture within ±${tolerance * 100} % of ${formatMacs(targetMacs)} MACs in ${maxDraws} draws; widen the tolerance`,
    'target-macs',
  );
}

/** "s2.out=4,s3.out=8" → { 's2.out': 4, 's3.out': 8 } (the α of each width group, as `adjoin train --alpha` takes it). */
export function parseAlphaMap(text: string, field: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const part of text.split(',')) {
    const m = /^\s*([\w.]+)\s*=\s*(\d+)\s*$/.exec(part);
    if (m === null) throw new InputError(`an α per width group is written group=α,group=α… (e.g. s2.out=4,s3.out=8), got '${part}'`, field);
    const alpha = Number(m[2]);
    if (!(DAN_ALPHAS as readonly number[]).includes(alpha)) throw new InputError(`α of ${m[1]} must be one of ${DAN_ALPHAS.join(', ')}, got ${alpha}`, field);
    out[m[1]!] = alpha;
  }
  return out;
}

/** The inverse of parseAlphaMap. */
export function formatAlphaMap(alphas: Readonly<Record<string, number>>): string {
  return Object.entries(alphas)
    .map(([g, a]) => `${g}=${a}`)
    .join(',');
}
