/**
 * The accuracy-vs-cost trade-off of the History scatter: a model is on the
 * Pareto front when no other model is at least as accurate for at most the
 * same MACs and strictly better in one of the two.
 */

export interface TradeOff {
  /** Cost to minimise (MACs). */
  cost: number;
  /** Quality to maximise (validation accuracy). */
  quality: number;
}

/** Indices of the points on the front, in ascending cost. */
export function paretoFront(points: readonly TradeOff[]): number[] {
  const order = points
    .map((p, i) => ({ p, i }))
    .filter(({ p }) => Number.isFinite(p.cost) && Number.isFinite(p.quality))
    // Cheapest first; among equal costs the best first, so its equals are dominated.
    .sort((a, b) => a.p.cost - b.p.cost || b.p.quality - a.p.quality);
  const front: number[] = [];
  let best = -Infinity;
  for (const { p, i } of order) {
    if (p.quality > best) {
      front.push(i);
      best = p.quality;
    }
  }
  return front;
}

/**
 * A 95% interval for an accuracy measured on `n` validation images (Wilson
 * score interval): what the scatter's error bars show, so two runs whose
 * bars overlap are not told apart by noise.
 */
export function accuracyInterval(accuracy: number, n: number): { lo: number; hi: number } {
  if (!(n > 0) || !Number.isFinite(accuracy)) return { lo: accuracy, hi: accuracy };
  const z = 1.959964;
  const z2 = z * z;
  const denom = 1 + z2 / n;
  const centre = (accuracy + z2 / (2 * n)) / denom;
  const half = (z * Math.sqrt((accuracy * (1 - accuracy)) / n + z2 / (4 * n * n))) / denom;
  return { lo: Math.max(0, centre - half), hi: Math.min(1, centre + half) };
}
