import type { SweepSummary } from '../../../shared/api.js';
import {
  type CellProgress,
  type CellState,
  type ConfigStats,
  configLabel,
  type MeanStd,
  paretoFront,
  shippedPoints,
  type SweepCell,
  type SweepSpec,
  type SweepStatus,
  type SweepView,
} from '../../../shared/sweep.js';
import type { ScatterPoint } from './charts/types.js';
import { formatCount, formatDuration, formatMacs } from './format.js';
import { ARCH_LABELS } from './run-labels.js';

/**
 * The Sweeps screen's figures, from what `sweeps:show` and `sweep:progress`
 * carry: the cells' progress, the statistics table as text, and the
 * accuracy-vs-MACs points. Pure, so the screen shows what the tests check.
 */

/** A cell's new state, folded into the view at once (the statistics follow with the next `sweeps:show`). */
export function applyCellProgress(view: SweepView, p: CellProgress): SweepView {
  if (p.sweepId !== view.sweepId) return view;
  const i = view.cells.findIndex((c) => c.cell.key === p.cell.key);
  if (i < 0) return view;
  const cells = view.cells.slice();
  cells[i] = { cell: p.cell, runId: p.runId, state: p.state, error: p.error };
  return { ...view, cells };
}

/** The order states are counted in: what is done, then what is going, then what cannot go on. */
const STATE_ORDER: readonly CellState[] = ['finished', 'running', 'queued', 'waiting', 'cancelled', 'interrupted', 'failed', 'blocked'];

export interface SweepProgress {
  total: number;
  finished: number;
  /** Cells per state, in STATE_ORDER, states with no cell left out. */
  counts: Array<{ state: CellState; cells: number }>;
}

export function sweepProgress(cells: ReadonlyArray<{ state: CellState }>): SweepProgress {
  const counts = STATE_ORDER.map((state) => ({ state, cells: cells.filter((c) => c.state === state).length })).filter((c) => c.cells > 0);
  return { total: cells.length, finished: cells.filter((c) => c.state === 'finished').length, counts };
}

/** "1 of 2 runs finished". */
export function progressLabel(p: SweepProgress): string {
  return `${p.finished} of ${p.total} run${p.total === 1 ? '' : 's'} finished`;
}

/** "1 finished · 1 running". */
export function countsLabel(p: SweepProgress): string {
  return p.counts.map((c) => `${c.cells} ${c.state}`).join(' · ');
}

/** A cell as the table names it: "small α=2 · seed 0". */
export function cellLabel(cell: SweepCell): string {
  return `${configLabel(cell)} · seed ${cell.seed}`;
}

/** An accuracy over seeds in percent: "91.30 ± 0.42%", or "91.30%" from one seed. */
export function formatAccuracy(m: MeanStd | null): string {
  if (m === null) return '—';
  const mean = (100 * m.mean).toFixed(2);
  return m.std === null ? `${mean}%` : `${mean} ± ${(100 * m.std).toFixed(2)}%`;
}

/** Seconds per run over seeds: "3 m 05 s ± 12 s". */
export function formatSeconds(m: MeanStd | null): string {
  if (m === null) return '—';
  return m.std === null ? formatDuration(m.mean) : `${formatDuration(m.mean)} ± ${formatDuration(m.std)}`;
}

/** One row of the statistics table, as text. */
export interface StatsRow {
  key: string;
  configuration: string;
  seeds: string;
  full: string;
  small: string;
  smallParams: string;
  smallMacs: string;
  time: string;
}

export function statsRows(stats: readonly ConfigStats[]): StatsRow[] {
  return stats.map((s) => ({
    key: s.key,
    configuration: s.label,
    // The count, and which seeds, so a row over fewer seeds than the sweep's (one failed) stands out.
    seeds: `${s.seeds.length} (${s.seeds.join(', ')})`,
    full: formatAccuracy(s.fullAccuracy),
    small: formatAccuracy(s.smallAccuracy),
    smallParams: formatCount(s.smallCost?.params),
    smallMacs: formatMacs(s.smallCost?.macs),
    time: formatSeconds(s.seconds),
  }));
}

/**
 * The plot: what each configuration ships (its small network, or a standard
 * run's full one) at its MACs, the mean accuracy over seeds with a bar of
 * ± 1 standard deviation, and the Pareto front of those means.
 */
export function sweepScatterPoints(stats: readonly ConfigStats[]): ScatterPoint[] {
  const points = shippedPoints(stats).filter((p) => p.macs > 0);
  const front = new Set(paretoFront(points).map((p) => p.key));
  return points.map((p, i) => {
    const sd = p.accuracy.std ?? 0;
    return {
      id: i,
      label: p.label,
      x: p.macs,
      y: p.accuracy.mean,
      lo: Math.max(0, p.accuracy.mean - sd),
      hi: Math.min(1, p.accuracy.mean + sd),
      onFront: front.has(p.key),
    };
  });
}

/** The last part of a path, whichever separator it uses (the renderer has no path module). */
export function baseName(path: string): string {
  const parts = path.split(/[\\/]+/).filter((s) => s !== '');
  return parts.at(-1) ?? path;
}

/** "standard, small, an · α 2, 4 · 3 seeds · 10 epochs". */
export function gridLabel(spec: SweepSpec): string {
  const parts = [spec.modes.join(', ')];
  if (spec.modes.some((m) => m !== 'standard')) parts.push(`α ${spec.alphas.join(', ')}`);
  if (spec.modes.includes('an')) parts.push(`β ${spec.smallCes.join(', ')}`);
  parts.push(spec.seeds.length === 1 ? `seed ${spec.seeds[0]}` : `${spec.seeds.length} seeds`);
  parts.push(`${spec.epochs} epoch${spec.epochs === 1 ? '' : 's'}`);
  return parts.join(' · ');
}

/** "ResNet-18 ×0.125". */
export function networkLabel(spec: SweepSpec): string {
  return `${ARCH_LABELS[spec.model.arch]} ×${spec.model.width}`;
}

/** `sweeps:cancel` stops a sweep this app runs. */
export function canCancel(status: SweepStatus): boolean {
  return status === 'running';
}

/** `sweeps:resume` continues a cancelled or interrupted sweep (finished runs are kept). */
export function canResume(status: SweepStatus): boolean {
  return status === 'cancelled' || status === 'interrupted';
}

/** The navigation's one line about sweeps. */
export function sweepsHint(list: readonly SweepSummary[], loaded: boolean): string {
  if (!loaded) return '';
  const running = list.find((s) => s.status === 'running');
  if (running !== undefined) return `#${running.sweepId} · ${running.finishedRuns}/${running.runs} runs`;
  return `${list.length} sweep${list.length === 1 ? '' : 's'}`;
}
