import { assertNever } from './errors.js';

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
 * Learning-rate schedules of the paper's two recipes (appendix B), expressed
 * in fractions of the run so they scale to any epoch count.
 */
export type LrSchedule =
  | { kind: 'constant' }
  /** Multiply by `gamma` at each milestone (fractions of the run), as MultiStepLR. */
  | { kind: 'multistep'; milestones: readonly number[]; gamma: number }
  /** Linear warm-up over `warmup` (a fraction of the run), then cosine decay to 0. */
  | { kind: 'cosine'; warmup: number };

/** Learning rate at progress t ∈ [0, 1] for base rate `lr`. */
export function lrAt(schedule: LrSchedule, lr: number, t: number): number {
  const x = Math.min(Math.max(t, 0), 1);
  switch (schedule.kind) {
    case 'constant':
      return lr;
    case 'multistep': {
      let out = lr;
      for (const m of schedule.milestones) if (x >= m) out *= schedule.gamma;
      return out;
    }
    case 'cosine': {
      if (schedule.warmup > 0 && x < schedule.warmup) return (lr * (x + 1e-9)) / schedule.warmup;
      const p = schedule.warmup >= 1 ? 1 : (x - schedule.warmup) / (1 - schedule.warmup);
      return 0.5 * lr * (1 + Math.cos(Math.PI * p));
    }
    default:
      return assertNever(schedule, 'lr schedule');
  }
}
