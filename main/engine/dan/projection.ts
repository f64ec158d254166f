import type { ProjectionMove } from '../../../shared/events.js';

export interface Projection {
  alphas: Record<string, number>;
  macs: number;
  moves: ProjectionMove[];
  /** Whether the result lies within the tolerance of the target; when not, it is the closest configuration visited. */
  withinBand: boolean;
}

export interface ProjectionProblem {
  /** The argmax configuration the projection starts from. */
  start: Readonly<Record<string, number>>;
  /** The search space, ascending. */
  space: readonly number[];
  target: number;
  tolerance: number;
  macsOf: (alphas: Readonly<Record<string, number>>) => number;
  /** KL(p‖q) of a configuration's hard-masked small path on a fixed held-out subset. */
  klOf: (alphas: Readonly<Record<string, number>>) => Promise<number>;
}

/**
 * Moves the argmax configuration onto the budget (issue 15, item 4): while
 * its MACs are above the band, narrow one group by one step of the space (a
 * larger α); while below, widen one. Each move is the one with the least
 * KL increase per MAC saved (or the most KL decrease per MAC added) on the
 * held-out subset, preferring a move that lands inside the band and avoiding
 * one that jumps past it. Every move changes MACs in one direction, so it
 * stops; α stays in the space. If the band cannot be reached it returns the
 * closest configuration it visited, with `withinBand` false.
 */
export async function projectOntoBudget(p: ProjectionProblem): Promise<Projection> {
  const lo = p.target * (1 - p.tolerance);
  const hi = p.target * (1 + p.tolerance);
  const inBand = (m: number): boolean => m >= lo && m <= hi;
  let alphas: Record<string, number> = { ...p.start };
  let macs = p.macsOf(alphas);
  const moves: ProjectionMove[] = [];
  let closest = { alphas, macs };
  if (inBand(macs)) return { alphas, macs, moves, withinBand: true };
  const narrowing = macs > hi;
  let kl = await p.klOf(alphas);
  for (;;) {
    const options: Array<{ move: ProjectionMove; next: Record<string, number>; score: number }> = [];
    for (const [group, alpha] of Object.entries(alphas)) {
      const at = p.space.indexOf(alpha);
      const to = p.space[narrowing ? at + 1 : at - 1];
      if (at < 0 || to === undefined) continue;
      const next = { ...alphas, [group]: to };
      const nextMacs = p.macsOf(next);
      const saved = narrowing ? macs - nextMacs : nextMacs - macs;
      if (saved <= 0) continue;
      const nextKl = await p.klOf(next);
      // KL added per MAC moved: lower is better (widening lowers KL, so its score is negative).
      options.push({ move: { group, from: alpha, to, macs: nextMacs, kl: nextKl }, next, score: (nextKl - kl) / saved });
    }
    if (options.length === 0) break;
    const landing = options.filter((o) => inBand(o.move.macs));
    const short = options.filter((o) => (narrowing ? o.move.macs > hi : o.move.macs < lo));
    const pool = landing.length > 0 ? landing : short;
    // Every move jumps past the band: take the one that ends nearest the target, then stop.
    const chosen =
      pool.length > 0
        ? pool.reduce((a, b) => (b.score < a.score ? b : a))
        : options.reduce((a, b) => (Math.abs(b.move.macs - p.target) < Math.abs(a.move.macs - p.target) ? b : a));
    alphas = chosen.next;
    macs = chosen.move.macs;
    kl = chosen.move.kl;
    moves.push(chosen.move);
    if (Math.abs(macs - p.target) < Math.abs(closest.macs - p.target)) closest = { alphas, macs };
    if (inBand(macs) || pool.length === 0) break;
  }
  return { alphas: closest.alphas, macs: closest.macs, moves, withinBand: inBand(closest.macs) };
}
