import type { BackendInfo } from '../../../shared/backend.js';
import { assertNever } from '../../../shared/errors.js';
import type { EngineEvent, EventOf, PathMetrics, SearchStepEvent, StepEvent } from '../../../shared/events.js';
import type { RunDetails, RunStatus } from '../../../shared/history.js';
import type { Cost } from '../../../shared/model/cost.js';
import { thin } from './downsample.js';

/**
 * What the Train monitor draws, folded from a run's engine events (live) or
 * rebuilt from the history (a run opened while it runs, or reopened later).
 * Every function here returns a new value: the monitor keeps it in
 * `$state.raw` and replaces it per event.
 */

/** One optimisation step of the training phase. */
export interface StepPoint {
  globalStep: number;
  epoch: number;
  loss: number;
  lambda: number;
  lr: number;
}

export interface EpochPoint {
  epoch: number;
  trainLoss: number;
  trainAccuracy: { full: number | null; small: number | null };
  val: { full: number | null; small: number | null };
  lambda: number;
  lr: number;
}

export interface SearchStepPoint {
  globalStep: number;
  loss: number;
  /** Expected small-network MACs over full MACs under this step's g. */
  flops: number;
  tau: number;
}

/** One epoch of a DAN search: softmax(η/τ) per width group, over the search space. */
export interface DanEpochPoint {
  epoch: number;
  tau: number | null;
  groups: Array<{ group: string; alpha: number; probabilities: number[] }>;
  /** The full network and the super-network's small path on the validation split (live events only). */
  val: { full: number; small: number } | null;
  /** Expected small-network MACs under softmax(η/τ) at the epoch's end; null in searches recorded before budgets. */
  expectedMacs: number | null;
}

export interface SearchSeries {
  /** The α choices, ascending: the heatmap's columns. */
  space: number[];
  groups: string[];
  epochsTotal: number | null;
  steps: SearchStepPoint[];
  epochs: DanEpochPoint[];
  /** The budget's MACs target; null in the paper's γ mode (or before the search started). */
  target: number | null;
  /** The full network's MACs: a step's n_f times this is its expected MACs. */
  fullMacs: number | null;
  stepsPerEpoch: number | null;
  result: {
    alphas: Record<string, number>;
    cost: { full: Cost; small: Cost };
    /** argmax η before the projection onto the budget (absent in searches recorded before budgets). */
    argmax?: { alphas: Record<string, number>; cost: Cost } | undefined;
    warnings?: string[] | undefined;
  } | null;
}

/** Where a run is, as far as its events tell. */
export type MonitorStatus = 'queued' | 'running' | 'finished' | 'cancelled' | 'failed' | 'interrupted';

export interface LiveProgress {
  phase: 'search' | 'train';
  epoch: number;
  epochs: number | null;
  step: number;
  stepsPerEpoch: number;
  globalStep: number;
  totalSteps: number;
  /** Fraction of the phase done. */
  progress: number;
  imagesPerSecond: number;
  etaSeconds: number;
  loss: number;
  lambda: number;
  lr: number;
  tau: number | null;
}

/** Where a training or search step event puts the live progress (a search step also reports τ). */
function liveProgress(phase: LiveProgress['phase'], e: StepEvent | SearchStepEvent, epochs: number | null): LiveProgress {
  const { epoch, step, stepsPerEpoch, globalStep, totalSteps, progress, imagesPerSecond, etaSeconds, loss, lambda, lr } = e;
  const tau = e.type === 'search-step' ? e.tau : null;
  return { phase, epoch, epochs, step, stepsPerEpoch, globalStep, totalSteps, progress, imagesPerSecond, etaSeconds, loss, lambda, lr, tau };
}

export interface RunSeries {
  status: MonitorStatus;
  phase: 'search' | 'train' | null;
  backend: BackendInfo | null;
  classes: string[];
  cost: { full: Cost; small: Cost | null } | null;
  epochsTotal: number | null;
  progress: LiveProgress | null;
  steps: StepPoint[];
  epochs: EpochPoint[];
  search: SearchSeries | null;
  /** Final validation figures and confusion matrix of the exported network. */
  final: { val: { full: PathMetrics | null; small: PathMetrics | null }; confusion: number[][]; seconds: number } | null;
  failure: { reason: string; message: string } | null;
  /** The latest engine log lines (warnings included), newest last. */
  logs: Array<{ level: 'info' | 'warn'; message: string }>;
}

/** A live monitor keeps at most this many step points per series (then thins by half). */
export const MAX_STEP_POINTS = 1500;
const MAX_LOGS = 20;

export function emptySeries(): RunSeries {
  return {
    status: 'queued',
    phase: null,
    backend: null,
    classes: [],
    cost: null,
    epochsTotal: null,
    progress: null,
    steps: [],
    epochs: [],
    search: null,
    final: null,
    failure: null,
    logs: [],
  };
}

/**
 * Appends a point keyed by `globalStep`, first dropping points at or after it:
 * a live event repeating a point the history already gave replaces it, and a
 * resumed run that redoes steps after its checkpoint rewinds the series.
 */
function appendStep<T extends { globalStep: number }>(points: readonly T[], point: T): T[] {
  let end = points.length;
  while (end > 0 && points[end - 1]!.globalStep >= point.globalStep) end--;
  const out = points.slice(0, end);
  out.push(point);
  return out.length > MAX_STEP_POINTS ? thin(out, Math.floor(MAX_STEP_POINTS / 2)) : out;
}

function appendEpoch<T extends { epoch: number }>(points: readonly T[], point: T): T[] {
  return [...points.filter((p) => p.epoch < point.epoch), point];
}

function emptySearch(space: number[], groups: string[], epochsTotal: number | null): SearchSeries {
  return { space, groups, epochsTotal, steps: [], epochs: [], target: null, fullMacs: null, stepsPerEpoch: null, result: null };
}

/** A training phase starts (or resumes): what it runs on, its classes and its cost; an earlier failure or result no longer holds. */
function trainStarted(s: RunSeries, e: EventOf<'started'>): RunSeries {
  return {
    ...s,
    status: 'running',
    phase: 'train',
    backend: e.backend,
    classes: e.data.classes,
    cost: { full: e.cost.full, small: e.cost.small },
    epochsTotal: e.config.epochs,
    failure: null,
    final: null,
  };
}

function trainStep(s: RunSeries, e: EventOf<'step'>): RunSeries {
  return {
    ...s,
    status: 'running',
    phase: 'train',
    progress: liveProgress('train', e, s.epochsTotal),
    steps: appendStep(s.steps, { globalStep: e.globalStep, epoch: e.epoch, loss: e.loss, lambda: e.lambda, lr: e.lr }),
  };
}

function trainEpoch(s: RunSeries, e: EventOf<'epoch'>): RunSeries {
  return {
    ...s,
    epochsTotal: e.epochs,
    epochs: appendEpoch(s.epochs, {
      epoch: e.epoch,
      trainLoss: e.trainLoss,
      trainAccuracy: e.trainAccuracy,
      val: { full: e.val.full?.accuracy ?? null, small: e.val.small?.accuracy ?? null },
      lambda: e.lambda,
      lr: e.lr,
    }),
  };
}

function searchStarted(s: RunSeries, e: EventOf<'search-started'>): RunSeries {
  return {
    ...s,
    status: 'running',
    phase: 'search',
    backend: e.backend,
    classes: e.data.classes,
    search: {
      ...emptySearch(
        e.config.space,
        e.groups.map((g) => g.group),
        e.config.epochs,
      ),
      target: e.target,
      fullMacs: e.full.macs,
      stepsPerEpoch: e.stepsPerEpoch,
      // A resumed search keeps what the history already showed.
      ...(s.search === null ? {} : { steps: s.search.steps, epochs: s.search.epochs }),
    },
  };
}

function searchStep(s: RunSeries, e: EventOf<'search-step'>): RunSeries {
  const search = s.search ?? emptySearch([], [], null);
  return {
    ...s,
    status: 'running',
    phase: 'search',
    progress: liveProgress('search', e, search.epochsTotal),
    search: { ...search, steps: appendStep(search.steps, { globalStep: e.globalStep, loss: e.loss, flops: e.flops, tau: e.tau }) },
  };
}

function searchEpoch(s: RunSeries, e: EventOf<'search-epoch'>): RunSeries {
  const search =
    s.search ??
    emptySearch(
      [],
      e.groups.map((g) => g.group),
      e.epochs,
    );
  return {
    ...s,
    search: {
      ...search,
      epochsTotal: e.epochs,
      groups: search.groups.length > 0 ? search.groups : e.groups.map((g) => g.group),
      epochs: appendEpoch(search.epochs, {
        epoch: e.epoch,
        tau: e.tau,
        groups: e.groups.map((g) => ({ group: g.group, alpha: g.alpha, probabilities: g.probabilities })),
        val: { full: e.val.full.accuracy, small: e.val.small.accuracy },
        expectedMacs: e.expectedMacs,
      }),
    },
  };
}

function searchResult(s: RunSeries, e: EventOf<'search-result'>): RunSeries {
  const search =
    s.search ??
    emptySearch(
      [],
      e.groups.map((g) => g.group),
      null,
    );
  return { ...s, search: { ...search, result: { alphas: e.alphas, cost: e.cost, argmax: e.argmax, warnings: e.warnings } } };
}

/** The series after one more engine event. */
export function applyEvent(s: RunSeries, e: EngineEvent): RunSeries {
  switch (e.type) {
    case 'started':
      return trainStarted(s, e);
    case 'step':
      return trainStep(s, e);
    case 'epoch':
      return trainEpoch(s, e);
    case 'checkpoint':
      return s;
    case 'finished':
      return { ...s, status: 'finished', final: { val: e.val, confusion: e.confusion, seconds: e.seconds } };
    case 'cancelled':
      return { ...s, status: 'cancelled' };
    case 'failed':
      return { ...s, status: 'failed', failure: { reason: e.reason, message: e.error.message } };
    case 'log':
      return { ...s, logs: [...s.logs, { level: e.level, message: e.message }].slice(-MAX_LOGS) };
    case 'search-started':
      return searchStarted(s, e);
    case 'search-step':
      return searchStep(s, e);
    case 'search-epoch':
      return searchEpoch(s, e);
    case 'search-result':
      return searchResult(s, e);
    default:
      return assertNever(e, 'engine event');
  }
}

function statusOf(status: RunStatus): MonitorStatus {
  return status === 'queued' ? 'queued' : status;
}

/** The series as the history has it: per-epoch metrics, sampled steps and DAN choices. */
export function seriesFromDetails(d: RunDetails): RunSeries {
  const { run } = d;
  const epochs: EpochPoint[] = d.epochs.map((e) => ({
    epoch: e.epoch,
    trainLoss: e.trainLoss,
    trainAccuracy: e.trainAccuracy,
    val: { full: e.val.full?.accuracy ?? null, small: e.val.small?.accuracy ?? null },
    lambda: e.lambda,
    lr: e.lr,
  }));
  let steps: StepPoint[] = [];
  for (const p of d.steps) steps = appendStep(steps, { globalStep: p.globalStep, epoch: p.epoch, loss: p.loss, lambda: p.lambda, lr: p.lr });
  const search: SearchSeries | null =
    run.search === null
      ? null
      : {
          space: run.search.config.space,
          groups: d.danChoices[0]?.choices.map((c) => c.group) ?? [],
          epochsTotal: run.search.config.epochs,
          steps: [],
          epochs: d.danChoices.map((de) => ({
            epoch: de.epoch,
            tau: de.tau,
            groups: de.choices.map((c) => ({ group: c.group, alpha: c.alpha, probabilities: c.probabilities })),
            val: null,
            expectedMacs: run.search?.epochs?.find((x) => x.epoch === de.epoch)?.expectedMacs ?? null,
          })),
          target: run.search.config.budget?.targetMacs ?? null,
          fullMacs: run.cost?.full.macs ?? null,
          stepsPerEpoch: null,
          result: run.search.result,
        };
  const finished = run.status === 'finished' && run.confusion !== null;
  return {
    ...emptySeries(),
    status: statusOf(run.status),
    phase: run.search !== null && run.search.result === null ? 'search' : 'train',
    backend: null,
    classes: run.data?.classes ?? [],
    cost: run.cost,
    epochsTotal: run.config.epochs,
    steps,
    epochs,
    search,
    final: finished ? { val: run.val, confusion: run.confusion ?? [], seconds: run.trainSeconds ?? 0 } : null,
    failure: run.status === 'failed' ? { reason: run.failureReason ?? 'error', message: run.error ?? 'the run failed' } : null,
  };
}

/** Whether the series has reached an end state (no more events will come). */
export function isOver(s: RunSeries): boolean {
  return s.status === 'finished' || s.status === 'cancelled' || s.status === 'failed' || s.status === 'interrupted';
}

/** Where α sits in the space on a log scale: 0 at the widest choice, 1 at the narrowest. */
export function narrowness(space: readonly number[], alpha: number): number {
  if (space.length < 2) return 0;
  const lo = Math.log2(space[0]!);
  const hi = Math.log2(space[space.length - 1]!);
  return hi === lo ? 0 : Math.min(1, Math.max(0, (Math.log2(alpha) - lo) / (hi - lo)));
}
