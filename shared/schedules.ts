import { assertNever, InputError } from './errors.js';

/**
 * The four λ(t) of the paper's appendix E. `quadratic`, min(4t², 1), is the
 * paper's default; t ∈ [0, 1] is the fraction of training done.
 */
export const LAMBDA_KINDS = ['quadratic', 'linear', 'one-minus-cos', 'exp-minus-one'] as const;
export type LambdaKind = (typeof LAMBDA_KINDS)[number];

export const LAMBDA_LABELS: Record<LambdaKind, string> = {
  quadratic: 'min(4t², 1)',
  linear: 't',
  'one-minus-cos': '1 − cos t',
  'exp-minus-one': 'exp(t) − 1',
};

export function lambdaAt(kind: LambdaKind, t: number): number {
  const x = Math.min(Math.max(t, 0), 1);
  switch (kind) {
    case 'quadratic':
      return Math.min(4 * x * x, 1);
    case 'linear':
      return x;
    case 'one-minus-cos':
      return 1 - Math.cos(x);
    case 'exp-minus-one':
      return Math.exp(x) - 1;
    default:
      return assertNever(kind, 'λ(t) kind');
  }
}

export function isLambdaKind(v: unknown): v is LambdaKind {
  return typeof v === 'string' && (LAMBDA_KINDS as readonly string[]).includes(v);
}

/**
 * Learning-rate schedules, all by optimisation step. `multistep` and `cosine`
 * are the paper's two recipes (appendix B), their boundaries fractions of the
 * run so they scale to any epoch count; `onecycle` is the short-run recipe's.
 * The optimizer's learning rate is the schedule's base (`onecycle`: its peak).
 */
export type LrSchedule =
  | { kind: 'constant' }
  /** Multiply by `gamma` at each milestone (fractions of the run), as MultiStepLR. */
  | { kind: 'multistep'; milestones: readonly number[]; gamma: number }
  /** Linear warm-up over `warmup` (a fraction of the run's steps), then cosine decay towards 0. */
  | { kind: 'cosine'; warmup: number }
  /**
   * PyTorch's OneCycleLR (two phases, cosine annealing): from lr/divFactor up
   * to lr over the first `pctStart` of the steps, then down to
   * lr/divFactor/finalDivFactor at the last step. `momentum`, when set,
   * replaces the optimizer's (SGD momentum, Adam β1) and moves the other
   * way: max → base while the lr rises, base → max while it falls.
   */
  | { kind: 'onecycle'; pctStart: number; divFactor: number; finalDivFactor: number; momentum: { base: number; max: number } | null };

export const LR_SCHEDULE_KINDS = ['constant', 'multistep', 'cosine', 'onecycle'] as const;

export type OneCycleSchedule = Extract<LrSchedule, { kind: 'onecycle' }>;

/** OneCycleLR with PyTorch's defaults. */
export const ONE_CYCLE: OneCycleSchedule = { kind: 'onecycle', pctStart: 0.3, divFactor: 25, finalDivFactor: 1e4, momentum: { base: 0.85, max: 0.95 } };

/** What the schedule sets for one optimisation step. */
export interface StepRates {
  lr: number;
  /** SGD momentum or Adam β1 of this step; null keeps the optimizer's own. */
  momentum: number | null;
}

/** PyTorch's `_annealing_cos`: from `start` at pct 0 to `end` at pct 1 along half a cosine. */
function annealCos(start: number, end: number, pct: number): number {
  return end + ((start - end) / 2) * (Math.cos(Math.PI * pct) + 1);
}

/**
 * OneCycleLR's `get_lr` at step `step` of `totalSteps`: phase 1 ends at step
 * pctStart·T − 1 (a float, as in PyTorch), phase 2 at T − 1.
 */
function oneCycleAt(s: OneCycleSchedule, maxLr: number, step: number, totalSteps: number): StepRates {
  const initial = maxLr / s.divFactor;
  const min = initial / s.finalDivFactor;
  const m = s.momentum;
  interface Phase {
    end: number;
    lr: { from: number; to: number };
    momentum: { from: number; to: number } | null;
  }
  const phases: Phase[] = [
    { end: s.pctStart * totalSteps - 1, lr: { from: initial, to: maxLr }, momentum: m === null ? null : { from: m.max, to: m.base } },
    { end: totalSteps - 1, lr: { from: maxLr, to: min }, momentum: m === null ? null : { from: m.base, to: m.max } },
  ];
  let start = 0;
  for (const [i, phase] of phases.entries()) {
    if (step <= phase.end || i === phases.length - 1) {
      // A phase of no length (PyTorch divides by zero there) is already over.
      const pct = phase.end > start ? (step - start) / (phase.end - start) : 1;
      return {
        lr: annealCos(phase.lr.from, phase.lr.to, pct),
        momentum: phase.momentum === null ? null : annealCos(phase.momentum.from, phase.momentum.to, pct),
      };
    }
    start = phase.end;
  }
  throw new Error('unreachable: the last phase always answers');
}

/**
 * The learning rate (and momentum, where the schedule sets it) of the
 * 0-based optimisation step `step` of a run of `totalSteps`, for base rate
 * `lr`. Steps past the end read as the last one.
 */
export function ratesAt(schedule: LrSchedule, lr: number, step: number, totalSteps: number): StepRates {
  const total = Math.max(1, Math.floor(totalSteps));
  const s = Math.min(Math.max(Math.floor(step), 0), total - 1);
  switch (schedule.kind) {
    case 'constant':
      return { lr, momentum: null };
    case 'multistep': {
      let out = lr;
      for (const m of schedule.milestones) if (s / total >= m) out *= schedule.gamma;
      return { lr: out, momentum: null };
    }
    case 'cosine': {
      // The last warm-up step reaches the full rate; no step trains at 0.
      const warmupSteps = Math.min(Math.round(schedule.warmup * total), total);
      if (s < warmupSteps) return { lr: (lr * (s + 1)) / warmupSteps, momentum: null };
      const p = (s - warmupSteps) / (total - warmupSteps);
      return { lr: 0.5 * lr * (1 + Math.cos(Math.PI * p)), momentum: null };
    }
    case 'onecycle':
      return oneCycleAt(schedule, lr, s, total);
    default:
      return assertNever(schedule, 'lr schedule');
  }
}

/** The learning rate alone, for plots: `ratesAt(…).lr`. */
export function lrAtStep(schedule: LrSchedule, lr: number, step: number, totalSteps: number): number {
  return ratesAt(schedule, lr, step, totalSteps).lr;
}

function inRange(v: number, lo: number, hi: number, hiOpen: boolean): boolean {
  return Number.isFinite(v) && v >= lo && (hiOpen ? v < hi : v <= hi);
}

/** Checks a schedule's numbers, naming the one at fault (field `schedule`). */
export function validateSchedule(s: LrSchedule): LrSchedule {
  const bad = (what: string): never => {
    throw new InputError(`lr schedule ${s.kind}: ${what}`, 'schedule');
  };
  switch (s.kind) {
    case 'constant':
      return s;
    case 'multistep':
      if (!Number.isFinite(s.gamma) || s.gamma <= 0) bad(`gamma must be positive, got ${s.gamma}`);
      for (const m of s.milestones) if (!inRange(m, 0, 1, false)) bad(`milestones are fractions of the run from 0 to 1, got ${m}`);
      return s;
    case 'cosine':
      if (!inRange(s.warmup, 0, 1, false)) bad(`warmup is a fraction of the run from 0 to 1, got ${s.warmup}`);
      return s;
    case 'onecycle': {
      if (!inRange(s.pctStart, 0, 1, true) || s.pctStart === 0) bad(`pctStart must be above 0 and below 1, got ${s.pctStart}`);
      if (!Number.isFinite(s.divFactor) || s.divFactor <= 0) bad(`divFactor must be positive, got ${s.divFactor}`);
      if (!Number.isFinite(s.finalDivFactor) || s.finalDivFactor <= 0) bad(`finalDivFactor must be positive, got ${s.finalDivFactor}`);
      const m = s.momentum;
      if (m !== null && (!inRange(m.base, 0, 1, true) || !inRange(m.max, 0, 1, true))) {
        bad(`momentum must be from 0 to below 1, got base ${m.base} and max ${m.max}`);
      }
      return s;
    }
    default:
      return assertNever(s, 'lr schedule');
  }
}
