import type { DataSource } from './api.js';
import type { RunStatus } from './history.js';
import { InputError } from './errors.js';
import type { ModelConfig } from './model/config.js';
import { AN_ALPHAS } from './model/config.js';
import type { LrSchedule } from './schedules.js';
import {
  type AdjoinedLossConfig,
  type Augmentation,
  type OptimizerConfig,
  type TrainConfig,
  type TrainMode,
  type TrainSettings,
  TRAIN_MODES,
  trainConfigOf,
  validateTrainConfig,
} from './train-config.js';

/**
 * A sweep: the same model and data trained in several modes, at several α,
 * with several seeds — the evidence for choosing α (issue 7).
 */
export interface SweepSpec {
  data: DataSource;
  model: ModelConfig;
  modes: TrainMode[];
  /** α of the small, kd and an cells (ignored by standard cells). */
  alphas: number[];
  seeds: number[];
  epochs: number;
  batchSize: number;
  optimizer: OptimizerConfig;
  schedule: LrSchedule;
  /** λ(t) and c of an cells; `smallCe` is replaced by each value of `smallCes`. */
  loss: AdjoinedLossConfig;
  /** β values of the small-path label loss for an cells. */
  smallCes: number[];
  augmentation: Augmentation;
  kd: { temperature: number; weight: number };
  checkpointEvery: number;
}

export const SWEEP_STATUSES = ['running', 'finished', 'failed', 'cancelled', 'interrupted'] as const;
export type SweepStatus = (typeof SWEEP_STATUSES)[number];

/** What a cell is doing: its run's status, or waiting (for its teacher) or blocked (its teacher failed). */
export type CellState = RunStatus | 'waiting' | 'blocked';

/** One run of a sweep. `key` names it stably (resuming finds its run by it). */
export interface SweepCell {
  key: string;
  mode: TrainMode;
  alpha: number | null;
  /** β of an cells, null otherwise. */
  beta: number | null;
  seed: number;
}

/** A configuration: a cell without its seed; statistics are taken over its seeds. */
export function configKey(c: Pick<SweepCell, 'mode' | 'alpha' | 'beta'>): string {
  return [c.mode, c.alpha === null ? '' : `a${c.alpha}`, c.beta === null ? '' : `b${c.beta}`].filter((s) => s !== '').join('-');
}

export function configLabel(c: Pick<SweepCell, 'mode' | 'alpha' | 'beta'>): string {
  if (c.mode === 'standard') return 'standard';
  const a = `α=${c.alpha}`;
  if (c.mode === 'an') return `an ${a}${c.beta !== null && c.beta !== 0 ? `, β=${c.beta}` : ''}`;
  return `${c.mode} ${a}`;
}

/**
 * The sweep's runs: a standard run per seed, and per α and seed a small,
 * a kd (taught by the standard run of its seed) and an an run per β.
 */
export function expandGrid(spec: SweepSpec): SweepCell[] {
  const cells: SweepCell[] = [];
  const add = (mode: TrainMode, alpha: number | null, beta: number | null, seed: number): void => {
    cells.push({ key: `${configKey({ mode, alpha, beta })}-s${seed}`, mode, alpha, beta, seed });
  };
  for (const seed of spec.seeds) {
    if (spec.modes.includes('standard')) add('standard', null, null, seed);
    for (const alpha of spec.alphas) {
      if (spec.modes.includes('small')) add('small', alpha, null, seed);
      if (spec.modes.includes('an')) for (const beta of spec.smallCes) add('an', alpha, beta, seed);
      if (spec.modes.includes('kd')) add('kd', alpha, null, seed);
    }
  }
  return cells;
}

/** The key of the standard run that teaches a kd cell. */
export function teacherKey(cell: SweepCell): string {
  return `${configKey({ mode: 'standard', alpha: null, beta: null })}-s${cell.seed}`;
}

/** The training config of a cell (a kd cell's teacher is filled in when its standard run has finished). */
export function cellConfig(spec: SweepSpec, cell: SweepCell, teacher: { network: string; runId: number } | null = null): TrainConfig {
  const settings: TrainSettings = {
    model: spec.model,
    epochs: spec.epochs,
    batchSize: spec.batchSize,
    optimizer: spec.optimizer,
    schedule: spec.schedule,
    loss: { ...spec.loss, smallCe: cell.beta ?? 0 },
    augmentation: spec.augmentation,
    seed: cell.seed,
    checkpointEvery: spec.checkpointEvery,
  };
  const kd = cell.mode === 'kd' ? { teacher: teacher?.network ?? '', teacherRun: teacher?.runId ?? null, ...spec.kd } : null;
  return trainConfigOf(settings, cell.mode, cell.alpha, kd);
}

function distinct<T>(values: T[], what: string, field: string): T[] {
  if (values.length === 0) throw new InputError(`a sweep needs at least one ${what}`, field);
  if (new Set(values).size !== values.length) throw new InputError(`${what} values repeat: ${values.join(', ')}`, field);
  return values;
}

export function validateSweepSpec(spec: SweepSpec): SweepSpec {
  distinct(spec.modes, 'mode', 'modes').forEach((m) => {
    if (!(TRAIN_MODES as readonly string[]).includes(m)) throw new InputError(`unknown mode '${m}' (choose from ${TRAIN_MODES.join(', ')})`, 'modes');
  });
  if (spec.modes.includes('kd') && !spec.modes.includes('standard')) {
    throw new InputError('kd runs are taught by the standard run of their seed: add standard to the modes', 'modes');
  }
  distinct(spec.seeds, 'seed', 'seeds');
  if (spec.modes.some((m) => m !== 'standard')) {
    distinct(spec.alphas, 'α', 'alpha').forEach((a) => {
      if (!(AN_ALPHAS as readonly number[]).includes(a)) throw new InputError(`α must be one of ${AN_ALPHAS.join(', ')}, got ${a}`, 'alpha');
    });
  }
  if (spec.modes.includes('an')) distinct(spec.smallCes, 'β', 'smallCe');
  for (const cell of expandGrid(spec)) {
    validateTrainConfig(cellConfig(spec, cell, cell.mode === 'kd' ? { network: 'teacher', runId: 0 } : null));
  }
  return spec;
}

/** Mean and sample standard deviation (n − 1); the deviation is null below two values. */
export interface MeanStd {
  mean: number;
  std: number | null;
  n: number;
}

export function meanStd(values: readonly number[]): MeanStd | null {
  if (values.length === 0) return null;
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  if (values.length < 2) return { mean, std: null, n: values.length };
  const variance = values.reduce((a, b) => a + (b - mean) ** 2, 0) / (values.length - 1);
  return { mean, std: Math.sqrt(variance), n: values.length };
}

/** What a finished cell's run measured. */
export interface CellResult {
  cell: SweepCell;
  runId: number;
  full: number | null;
  small: number | null;
  /** Parameters and MACs of the networks the run has. */
  fullCost: { params: number; macs: number } | null;
  smallCost: { params: number; macs: number } | null;
  seconds: number | null;
}

/** One row of the sweep's table: a configuration over its seeds. */
export interface ConfigStats {
  key: string;
  label: string;
  mode: TrainMode;
  alpha: number | null;
  beta: number | null;
  seeds: number[];
  fullAccuracy: MeanStd | null;
  smallAccuracy: MeanStd | null;
  fullCost: { params: number; macs: number } | null;
  smallCost: { params: number; macs: number } | null;
  seconds: MeanStd | null;
}

export function summarize(results: readonly CellResult[]): ConfigStats[] {
  const groups = new Map<string, CellResult[]>();
  for (const r of results) {
    const k = configKey(r.cell);
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  return [...groups.entries()].map(([key, rs]) => {
    const c = rs[0]!.cell;
    const nums = (f: (r: CellResult) => number | null): number[] => rs.map(f).filter((v): v is number => v !== null);
    return {
      key,
      label: configLabel(c),
      mode: c.mode,
      alpha: c.alpha,
      beta: c.beta,
      seeds: rs.map((r) => r.cell.seed).sort((a, b) => a - b),
      fullAccuracy: meanStd(nums((r) => r.full)),
      smallAccuracy: meanStd(nums((r) => r.small)),
      fullCost: rs[0]!.fullCost,
      smallCost: rs[0]!.smallCost,
      seconds: meanStd(nums((r) => r.seconds)),
    };
  });
}

/** A point of the accuracy-vs-MACs plot: the network a configuration ships. */
export interface ShippedPoint {
  key: string;
  label: string;
  macs: number;
  params: number;
  accuracy: MeanStd;
}

/** What each configuration would ship: its small network, or a standard run's full one. */
export function shippedPoints(stats: readonly ConfigStats[]): ShippedPoint[] {
  const out: ShippedPoint[] = [];
  for (const s of stats) {
    const small = s.smallAccuracy !== null && s.smallCost !== null;
    const accuracy = small ? s.smallAccuracy : s.fullAccuracy;
    const cost = small ? s.smallCost : s.fullCost;
    if (accuracy !== null && cost !== null) out.push({ key: s.key, label: s.label, macs: cost.macs, params: cost.params, accuracy });
  }
  return out;
}

/** Points no other point beats on both fewer MACs and higher mean accuracy, by MACs. */
export function paretoFront<T extends { macs: number; accuracy: { mean: number } }>(points: readonly T[]): T[] {
  const sorted = [...points].sort((a, b) => a.macs - b.macs || b.accuracy.mean - a.accuracy.mean);
  const front: T[] = [];
  let best = -Infinity;
  for (const p of sorted) {
    if (p.accuracy.mean > best) {
      front.push(p);
      best = p.accuracy.mean;
    }
  }
  return front;
}

function pct(m: MeanStd | null): string {
  if (m === null) return '–';
  return m.std === null ? `${(100 * m.mean).toFixed(2)}` : `${(100 * m.mean).toFixed(2)} ± ${(100 * m.std).toFixed(2)}`;
}

function count(n: number | undefined): string {
  if (n === undefined) return '–';
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)}G`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}K`;
  return String(n);
}

/** The sweep's table as Markdown: top-1 in %, mean ± standard deviation over seeds. */
export function statsMarkdown(stats: readonly ConfigStats[]): string {
  const rows = [
    '| configuration | seeds | full top-1 (%) | small top-1 (%) | small params | small MACs | full params | full MACs | time per run (s) |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const s of stats) {
    const secs = s.seconds === null ? '–' : s.seconds.std === null ? s.seconds.mean.toFixed(0) : `${s.seconds.mean.toFixed(0)} ± ${s.seconds.std.toFixed(0)}`;
    rows.push(
      `| ${s.label} | ${s.seeds.length} | ${pct(s.fullAccuracy)} | ${pct(s.smallAccuracy)} | ${count(s.smallCost?.params)} | ${count(s.smallCost?.macs)} | ` +
        `${count(s.fullCost?.params)} | ${count(s.fullCost?.macs)} | ${secs} |`,
    );
  }
  return rows.join('\n');
}

export function statsCsv(stats: readonly ConfigStats[]): string {
  const head =
    'configuration,mode,alpha,beta,seeds,full_mean,full_std,small_mean,small_std,small_params,small_macs,full_params,full_macs,seconds_mean,seconds_std';
  const v = (x: number | null | undefined): string => (x === null || x === undefined ? '' : String(x));
  return [
    head,
    ...stats.map((s) =>
      [
        `"${s.label}"`,
        s.mode,
        v(s.alpha),
        v(s.beta),
        s.seeds.length,
        v(s.fullAccuracy?.mean),
        v(s.fullAccuracy?.std),
        v(s.smallAccuracy?.mean),
        v(s.smallAccuracy?.std),
        v(s.smallCost?.params),
        v(s.smallCost?.macs),
        v(s.fullCost?.params),
        v(s.fullCost?.macs),
        v(s.seconds?.mean),
        v(s.seconds?.std),
      ].join(','),
    ),
  ].join('\n');
}

/** A sweep as the history has it: each cell's run and state, and statistics over the finished runs. */
export interface SweepView {
  sweepId: number;
  status: SweepStatus;
  createdAt: number;
  finishedAt: number | null;
  spec: SweepSpec;
  /** The queue its runs go to, without its password; null for a sweep on the machine that keeps the history. */
  queue: string | null;
  cells: Array<{ cell: SweepCell; runId: number | null; state: CellState; error: string | null }>;
  results: CellResult[];
  stats: ConfigStats[];
}

/** A cell changed state (the `sweep:progress` event). */
export interface CellProgress {
  sweepId: number;
  cell: SweepCell;
  runId: number | null;
  state: CellState;
  error: string | null;
}

/** What two sweeps must share to be compared at all: the images and the length of their runs. */
const SHARED_FIELDS = ['data', 'epochs', 'batchSize', 'augmentation'] as const;

/** A network as a label: its architecture and width, and its stem or compressed first stage where those differ. */
function networkLabel(m: ModelConfig, all: readonly ModelConfig[]): string {
  const parts = [`${m.arch} w${m.width}`];
  if (new Set(all.map((x) => x.stem)).size > 1) parts.push(`${m.stem} stem`);
  if (new Set(all.map((x) => x.compressFirstStage)).size > 1 && m.compressFirstStage) parts.push('first stage compressed');
  return parts.join(' ');
}

/** What sets one sweep apart from the others it is combined with ('' when nothing does). */
function setupLabel(spec: SweepSpec, all: readonly SweepSpec[]): string {
  // What may differ between combined sweeps; each configuration's label then says which it is.
  const differs = (f: 'model' | 'optimizer' | 'schedule'): boolean => new Set(all.map((x) => JSON.stringify(x[f]))).size > 1;
  const parts: string[] = [];
  if (differs('model'))
    parts.push(
      networkLabel(
        spec.model,
        all.map((x) => x.model),
      ),
    );
  if (differs('optimizer') || differs('schedule')) parts.push(`${spec.optimizer.kind}, ${spec.schedule.kind} schedule`);
  return parts.join(', ');
}

/**
 * Results of several sweeps over the same data and run length as one (a grid
 * and an extra α run later, or another network or recipe beside it). Sweeps
 * that differ in network, optimiser or schedule keep their configurations
 * apart: each label starts with what sets its sweep apart ("mobilenetv2
 * w0.55 · an α=4"). Sweeps over other data or of another length are refused,
 * naming what differs.
 */
export function combineSweeps(views: readonly SweepView[]): { spec: SweepSpec; results: CellResult[]; stats: ConfigStats[] } {
  const first = views[0];
  if (first === undefined) throw new InputError('no sweeps to combine', 'sweep');
  for (const v of views.slice(1)) {
    const differs = SHARED_FIELDS.find((f) => JSON.stringify(first.spec[f]) !== JSON.stringify(v.spec[f]));
    if (differs !== undefined) {
      throw new InputError(`sweeps ${first.sweepId} and ${v.sweepId} differ in ${differs}; only sweeps of the same data and run length combine`, 'sweep');
    }
  }
  const specs = views.map((v) => v.spec);
  const setups = new Map<string, CellResult[]>();
  for (const v of views) {
    const label = setupLabel(v.spec, specs);
    setups.set(label, [...(setups.get(label) ?? []), ...v.results]);
  }
  const stats = [...setups.entries()].flatMap(([setup, results]) =>
    summarize(results).map((s) => (setup === '' ? s : { ...s, key: `${setup}|${s.key}`, label: `${setup} · ${s.label}` })),
  );
  const results = views.flatMap((v) => v.results);
  const seeds = [...new Set(views.flatMap((v) => v.spec.seeds))].sort((a, b) => a - b);
  return { spec: { ...first.spec, seeds }, results, stats };
}
