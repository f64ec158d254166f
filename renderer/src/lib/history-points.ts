import type { RunRecord } from '../../../shared/history.js';
import type { ScatterPoint } from './charts/types.js';
import { accuracyInterval, paretoFront } from './pareto.js';

/**
 * The History scatter: every finished run's small model at (MACs, validation
 * accuracy), with the accuracy's 95% interval over its validation images and
 * the Pareto front marked.
 */
export function scatterPoints(runs: readonly RunRecord[]): ScatterPoint[] {
  const models = runs.flatMap((r) => {
    const macs = r.cost?.small?.macs;
    const accuracy = r.val.small?.accuracy;
    if (r.status !== 'finished' || macs === undefined || accuracy === undefined || !(macs > 0)) return [];
    const n = r.data?.valCount ?? 0;
    return [{ run: r, macs, accuracy, interval: accuracyInterval(accuracy, n) }];
  });
  const front = new Set(paretoFront(models.map((m) => ({ cost: m.macs, quality: m.accuracy }))));
  return models.map((m, i) => ({
    id: m.run.id,
    label: `#${m.run.id}`,
    x: m.macs,
    y: m.accuracy,
    lo: m.interval.lo,
    hi: m.interval.hi,
    onFront: front.has(i),
  }));
}
