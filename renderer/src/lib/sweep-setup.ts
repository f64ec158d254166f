import { importSettings } from '../../../shared/dataset.js';
import { InputError } from '../../../shared/errors.js';
import type { Cost } from '../../../shared/model/cost.js';
import { AN_ALPHAS } from '../../../shared/model/config.js';
import { expandGrid, type SweepSpec, validateSweepSpec } from '../../../shared/sweep.js';
import { DEFAULT_KD, type TrainMode } from '../../../shared/train-config.js';
import { dataSourceOf, estimate, type ModelSettings, trainConfigOf, type TrainSettings } from './wizard-config.js';

/**
 * The "Compare α values…" dialog: what it holds, and how it becomes the
 * `sweeps:start` request. The network, recipe, batch size and loss are the
 * wizard's (the same builders as a single run); the dialog adds the grid —
 * modes, α, seeds, β — and the length of each run.
 */

/** The order the dialog lists the modes in: the reference first, then the α-dependent ones. */
export const SWEEP_MODES: readonly TrainMode[] = ['standard', 'small', 'kd', 'an'];

export interface SweepDraft {
  modes: TrainMode[];
  alphas: number[];
  /** `count`: seeds 0 … n − 1; `list`: the seeds typed in `seedList`. */
  seedsAs: 'count' | 'list';
  /** null while the field is empty. */
  seedCount: number | null;
  seedList: string;
  epochs: number | null;
  /** β values of the an runs. */
  smallCes: number[];
  /** Use only the first N training images (null: all). */
  limitTrain: number | null;
}

/**
 * Where the dialog starts: the reference, the small network alone and the
 * adjoined one at α 2 and 4, over three seeds — 15 runs, enough to see
 * whether AN beats the small baseline by more than the seeds' spread.
 */
export function defaultSweepDraft(train: TrainSettings): SweepDraft {
  return {
    modes: ['standard', 'small', 'an'],
    alphas: [2, 4],
    seedsAs: 'count',
    seedCount: 3,
    seedList: '0, 1, 2',
    epochs: train.epochs,
    smallCes: [train.smallCe],
    limitTrain: train.limitTrain,
  };
}

/**
 * β values offered: the paper's 0, our recommended 1, whatever the Train
 * screen has, and any already chosen (so no chosen β is ever hidden).
 */
export function betaChoices(train: TrainSettings, chosen: readonly number[] = []): number[] {
  return [...new Set([0, 1, train.smallCe, ...chosen])].filter((b) => Number.isFinite(b) && b >= 0).sort((a, b) => a - b);
}

/** Adds or removes a value, keeping the order of `order` (so the grid reads the same way every time). */
export function toggled<T>(values: readonly T[], value: T, on: boolean, order: readonly T[]): T[] {
  const next = new Set(values);
  if (on) next.add(value);
  else next.delete(value);
  return order.filter((v) => next.has(v));
}

/** The α values a draft may choose from. */
export const SWEEP_ALPHAS: readonly number[] = AN_ALPHAS;

const MAX_SEEDS = 100;

/** The seeds the draft asks for; an InputError on field `seeds` names what is wrong. */
export function seedsOf(d: Pick<SweepDraft, 'seedsAs' | 'seedCount' | 'seedList'>): number[] {
  if (d.seedsAs === 'count') {
    const n = d.seedCount;
    if (n === null || !Number.isInteger(n) || n < 1 || n > MAX_SEEDS) {
      throw new InputError(`the number of seeds must be an integer from 1 to ${MAX_SEEDS}${n === null ? '' : `, got ${n}`}`, 'seeds');
    }
    return Array.from({ length: n }, (_, i) => i);
  }
  const tokens = d.seedList.split(/[\s,;]+/).filter((t) => t !== '');
  if (tokens.length === 0) throw new InputError('type at least one seed, e.g. 0, 1, 2', 'seeds');
  return tokens.map((t) => {
    // Number('') and Number('1e3') would slip through: only plain digits are seeds.
    if (!/^\d+$/.test(t)) throw new InputError(`a seed is a non-negative integer, got '${t}'`, 'seeds');
    return Number(t);
  });
}

/** What the dialog needs from the rest of the wizard. */
export interface SweepContext {
  /** The scanned folder (the Dataset screen's source). */
  source: string;
  model: ModelSettings;
  train: TrainSettings;
  /** The dataset's class count. */
  classes: number;
}

/**
 * The sweep a draft describes, unchecked: the network, recipe, batch size,
 * λ(t) and c are those a standard run from the wizard would get
 * (`trainConfigOf`), so a sweep and a single run of the same settings agree.
 * Throws only when the seeds cannot be read.
 */
export function sweepSpecOf(d: SweepDraft, ctx: SweepContext): SweepSpec {
  const epochs = d.epochs ?? Number.NaN;
  const base = trainConfigOf({ ...ctx.model, mode: 'standard' }, { ...ctx.train, epochs }, ctx.classes);
  return {
    data: dataSourceOf(ctx.source, ctx.model, { ...ctx.train, limitTrain: d.limitTrain }),
    model: base.model,
    modes: SWEEP_MODES.filter((m) => d.modes.includes(m)),
    alphas: [...d.alphas],
    seeds: seedsOf(d),
    epochs,
    batchSize: base.batchSize,
    optimizer: base.optimizer,
    schedule: base.schedule,
    loss: base.loss,
    smallCes: [...d.smallCes],
    augmentation: base.augmentation,
    kd: { temperature: DEFAULT_KD.temperature, weight: DEFAULT_KD.weight },
    checkpointEvery: base.checkpointEvery,
  };
}

/**
 * The request `sweeps:start` gets, checked by the main side's own rules
 * first, so a bad field is named before anything is sent.
 */
export function sweepRequest(d: SweepDraft, ctx: SweepContext): SweepSpec {
  if (d.epochs === null) throw new InputError('type the number of epochs each run trains', 'epochs');
  if (d.limitTrain !== null && (!Number.isInteger(d.limitTrain) || d.limitTrain < 1)) {
    throw new InputError(`the number of training images must be a positive integer, got ${d.limitTrain}`, 'limitTrain');
  }
  const spec = sweepSpecOf(d, ctx);
  importSettings(spec.data.settings);
  return validateSweepSpec(spec);
}

/** How many runs the draft queues, per mode, in the dialog's order; null while the seeds cannot be read. */
export interface RunCount {
  total: number;
  byMode: Array<{ mode: TrainMode; runs: number }>;
}

export function runCount(d: SweepDraft, ctx: SweepContext): RunCount | null {
  let spec: SweepSpec;
  try {
    spec = sweepSpecOf(d, ctx);
  } catch (error) {
    if (error instanceof InputError) return null;
    throw error;
  }
  const cells = expandGrid(spec);
  const byMode = SWEEP_MODES.map((mode) => ({ mode, runs: cells.filter((c) => c.mode === mode).length })).filter((m) => m.runs > 0);
  return { total: cells.length, byMode };
}

/** "15 runs", "1 run". */
export function runsLabel(n: number): string {
  return `${n} run${n === 1 ? '' : 's'}`;
}

/**
 * What a configuration of the grid would ship, estimated in the page from
 * shared/model: the standard run its full network; the small, kd and an
 * runs at one α all ship the same small network.
 */
export interface ShippedEstimate {
  key: string;
  label: string;
  /** The modes that ship this network. */
  modes: TrainMode[];
  network: 'full' | 'small';
  alpha: number | null;
  result: { ok: true; cost: Cost; full: Cost } | { ok: false; message: string };
}

export function shippedEstimates(d: Pick<SweepDraft, 'modes' | 'alphas'>, model: ModelSettings, classes: number): ShippedEstimate[] {
  const out: ShippedEstimate[] = [];
  if (d.modes.includes('standard')) {
    const e = estimate({ ...model, mode: 'standard' }, classes);
    out.push({
      key: 'standard',
      label: 'standard',
      modes: ['standard'],
      network: 'full',
      alpha: null,
      result: e.ok ? { ok: true, cost: e.value.full, full: e.value.full } : { ok: false, message: e.message },
    });
  }
  const smallModes = SWEEP_MODES.filter((m) => m !== 'standard' && d.modes.includes(m));
  if (smallModes.length === 0) return out;
  for (const alpha of SWEEP_ALPHAS.filter((a) => d.alphas.includes(a))) {
    const e = estimate({ ...model, mode: 'an', alpha }, classes);
    out.push({
      key: `a${alpha}`,
      label: `α = ${alpha}`,
      modes: smallModes,
      network: 'small',
      alpha,
      result:
        e.ok && e.value.small !== null ? { ok: true, cost: e.value.small, full: e.value.full } : { ok: false, message: e.ok ? 'no small network' : e.message },
    });
  }
  return out;
}
