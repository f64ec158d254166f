/**
 * Step series grow with the run (one point per optimisation step); charts
 * draw a few hundred points at most. Two tools: `thin` bounds what a live
 * monitor keeps in memory, `lttb` picks the points a chart draws so spikes
 * in the loss survive the reduction.
 */

export interface Point {
  x: number;
  y: number;
}

/**
 * Halves a series by keeping every other point (and always the last), so a
 * monitor that appends one point per step holds at most `max` of them.
 */
export function thin<T>(points: readonly T[], max: number): T[] {
  if (max < 2) throw new Error(`thin needs room for at least 2 points, got ${max}`);
  if (points.length <= max) return points.slice();
  let out = points.slice();
  while (out.length > max) {
    const last = out[out.length - 1]!;
    const halved = out.filter((_, i) => i % 2 === 0);
    if (halved[halved.length - 1] !== last) halved.push(last);
    out = halved;
  }
  return out;
}

/**
 * Largest-Triangle-Three-Buckets (Steinarsson, 2013): keeps the first and
 * last points and, from each of `threshold − 2` buckets, the point forming
 * the largest triangle with the previous pick and the next bucket's mean.
 */
export function lttb(points: readonly Point[], threshold: number): Point[] {
  const n = points.length;
  if (threshold >= n || threshold < 3) return points.slice();
  const out: Point[] = [points[0]!];
  const every = (n - 2) / (threshold - 2);
  let a = 0;
  for (let i = 0; i < threshold - 2; i++) {
    const nextStart = Math.floor((i + 1) * every) + 1;
    const nextEnd = Math.min(Math.floor((i + 2) * every) + 1, n);
    let avgX = 0;
    let avgY = 0;
    for (let j = nextStart; j < nextEnd; j++) {
      avgX += points[j]!.x;
      avgY += points[j]!.y;
    }
    const len = Math.max(nextEnd - nextStart, 1);
    avgX /= len;
    avgY /= len;
    const start = Math.floor(i * every) + 1;
    const end = Math.floor((i + 1) * every) + 1;
    const pa = points[a]!;
    let best = start;
    let bestArea = -1;
    for (let j = start; j < end; j++) {
      const p = points[j]!;
      const area = Math.abs((pa.x - avgX) * (p.y - pa.y) - (pa.x - p.x) * (avgY - pa.y));
      if (area > bestArea) {
        bestArea = area;
        best = j;
      }
    }
    out.push(points[best]!);
    a = best;
  }
  out.push(points[n - 1]!);
  return out;
}
