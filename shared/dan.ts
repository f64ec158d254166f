import { InputError } from './errors.js';
import { DAN_ALPHAS, type ModelConfig, validateModelConfig } from './model/config.js';
import { buildGraph } from './model/graph.js';
import { type LrSchedule, validateSchedule } from './schedules.js';
import { type AdjoinedConfig, type AdjoinedLossConfig, type Augmentation, type OptimizerConfig, validateOptimizer } from './train-config.js';

/**
 * A DAN search (paper section 5): per width group, logits η over the
 * choices in `space`; Gumbel-softmax weights g = softmax((η + ε)/τ) mix the
 * nested candidate widths into one soft channel mask per group.
 *
 * The loss is CE(p) + λ(t)·(c·KL(p‖q) + γ·n_f) + β·CE(q), where n_f is the
 * small network's expected MACs under g divided by the full network's MACs,
 * so n_f ∈ (0, 1] and γ compares directly with the KL term. The paper's γ
 * multiplies raw FLOPs (MACs) instead: γ_ours = γ_paper × MACs_full. For
 * ResNet-50 at 224×224 (4.09 GMACs) the paper's e-13, read as 1e-13, is
 * γ_ours ≈ 4.1e-4; read as e^−13 ≈ 2.26e-6 it is γ_ours ≈ 9,200. `--gamma-raw`
 * takes the paper's scale and converts with the searched model's MACs.
 */
export interface SearchConfig {
  model: ModelConfig;
  /** The α choices A ⊆ {1, 2, 4, 8, 16}, ascending. */
  space: number[];
  gamma: number;
  epochs: number;
  batchSize: number;
  /** Optimiser of the network weights. */
  optimizer: OptimizerConfig;
  schedule: LrSchedule;
  /** Adam learning rate of the architecture logits η. */
  archLr: number;
  loss: AdjoinedLossConfig;
  /** τ of epoch e (0-based) is initial·exp(−decay·e); the paper: 15 and 0.045. */
  tau: { initial: number; decay: number };
  /** `fresh`: new Gumbel noise every step; `fixed`: drawn once per group, as the authors' code. */
  noise: 'fresh' | 'fixed';
  augmentation: Augmentation;
  seed: number;
  checkpointEvery: number;
  // Issue 15's budgeted search. Every field below is optional and its absence
  // is the paper's behaviour, so a search config stored before it existed
  // decodes to exactly the search it ran.
  /** Search under a MACs budget instead of the γ term (absent or null: the paper's γ·n_f). */
  budget?: SearchBudget | null;
  /** `paper`: τ by epoch from `tau`; `progress`: geometric from `tauRange.start` to `tauRange.end` over the steps after the warm-up. */
  tauSchedule?: 'paper' | 'progress';
  tauRange?: { start: number; end: number };
  /** Fraction of the steps at the start that train the weights only (η stays put). Absent: 0. */
  warmup?: number;
  /** Fraction of the training images held out for the η steps; the weights never see them. Absent or 0: one joint step per batch, as the paper. */
  heldOut?: number;
  /** β₁ of η's Adam. Absent: 0.9. */
  archBeta1?: number;
  /** When set, η's learning rate is travel / (number of η steps), so η can move about this far whatever the run's length; absent or null: `archLr`. */
  etaTravel?: number | null;
}

/**
 * Which step a search takes: `joint` moves weights and η on one batch (the
 * paper); `weights` moves the weights alone with the adjoined loss (the
 * warm-up, and the weight half of an alternating search); `eta` moves η
 * alone on a held-out batch.
 */
export type SearchPhase = 'joint' | 'weights' | 'eta';

/** What a budgeted search aims at and how hard it pulls there. */
export interface SearchBudget {
  /** Multiply-adds of the small network the search should find. */
  targetMacs: number;
  /** Half-width of the band around the target, as a fraction of it, inside which the penalty is zero. */
  tolerance: number;
  /** ρ of the penalty ρ·max(0, |E[MACs]/target − 1| − tolerance). */
  weight: number;
}

/** Every setting of a search, absent ones filled with the paper's behaviour. */
export interface SearchPlan {
  budget: SearchBudget | null;
  tauSchedule: 'paper' | 'progress';
  tauRange: { start: number; end: number };
  warmup: number;
  heldOut: number;
  archBeta1: number;
  etaTravel: number | null;
}

/** The budgeted mode's defaults (issue 15): the band of the final projection, a progress schedule, a held-out fifth of the images. */
export const BUDGET_DEFAULTS = {
  tolerance: 0.02,
  weight: 2,
  tauRange: { start: 5, end: 0.2 },
  warmup: 0.25,
  heldOut: 0.2,
  archBeta1: 0.5,
  etaTravel: 5,
} as const;

/** The settings that make a search budgeted, with BUDGET_DEFAULTS. */
export function budgetedSearch(targetMacs: number): SearchPlan & { budget: SearchBudget } {
  const d = BUDGET_DEFAULTS;
  return {
    budget: { targetMacs, tolerance: d.tolerance, weight: d.weight },
    tauSchedule: 'progress',
    tauRange: { ...d.tauRange },
    warmup: d.warmup,
    heldOut: d.heldOut,
    archBeta1: d.archBeta1,
    etaTravel: d.etaTravel,
  };
}

export function searchPlan(c: SearchConfig): SearchPlan {
  return {
    budget: c.budget ?? null,
    tauSchedule: c.tauSchedule ?? 'paper',
    tauRange: c.tauRange ?? { start: c.tau.initial, end: c.tau.initial },
    warmup: c.warmup ?? 0,
    heldOut: c.heldOut ?? 0,
    archBeta1: c.archBeta1 ?? 0.9,
    etaTravel: c.etaTravel ?? null,
  };
}

/** Steps at the start that train the weights alone. */
export function warmupSteps(c: SearchConfig, totalSteps: number): number {
  return Math.floor(searchPlan(c).warmup * totalSteps);
}

/**
 * τ at a step. `paper`: by epoch. `progress`: τ_start through the warm-up,
 * then geometric from τ_start at its first step to τ_end at the last step,
 * so a longer or shorter run sweeps the same range.
 */
export function tauAtStep(c: SearchConfig, globalStep: number, totalSteps: number, epoch: number): number {
  const plan = searchPlan(c);
  if (plan.tauSchedule === 'paper') return tauAt(c.tau, epoch);
  const first = warmupSteps(c, totalSteps);
  const { start, end } = plan.tauRange;
  if (globalStep <= first) return start;
  const span = Math.max(1, totalSteps - 1 - first);
  return start * (end / start) ** Math.min(1, (globalStep - first) / span);
}

/** η's learning rate: spread over the η steps when a travel is set, else `archLr`. */
export function etaLearningRate(c: SearchConfig, totalSteps: number): number {
  const travel = searchPlan(c).etaTravel;
  if (travel === null) return c.archLr;
  return travel / Math.max(1, totalSteps - warmupSteps(c, totalSteps));
}

/** ρ·max(0, |E/T − 1| − tol): zero inside the band, rising linearly outside it. */
export function budgetPenalty(expectedMacs: number, budget: SearchBudget): number {
  return budget.weight * Math.max(0, Math.abs(expectedMacs / budget.targetMacs - 1) - budget.tolerance);
}

/** Entropy (nats) of a distribution. */
export function entropy(p: readonly number[]): number {
  return -p.reduce((s, v) => (v > 0 ? s + v * Math.log(v) : s), 0);
}

/** A group is still flat when its entropy exceeds this share of the uniform's, log |A|. */
export const FLAT_ENTROPY_SHARE = 0.9;

export const DEFAULT_TAU = { initial: 15, decay: 0.045 } as const;
export const DEFAULT_ARCH_LR = 0.01;

export function tauAt(tau: SearchConfig['tau'], epoch: number): number {
  return tau.initial * Math.exp(-tau.decay * epoch);
}

/** Parses "1,2,4,8,16" into an ascending, duplicate-free search space. */
export function parseSpace(text: string): number[] {
  const parts = text
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  const values = parts.map((p) => Number(p));
  if (parts.length === 0 || values.some((v) => !Number.isInteger(v))) {
    throw new InputError(`search space must be a comma-separated list of α values, got '${text}'`, 'space');
  }
  return validateSpace(values);
}

export function validateSpace(space: readonly number[]): number[] {
  const sorted = [...new Set(space)].sort((a, b) => a - b);
  for (const a of sorted) {
    if (!(DAN_ALPHAS as readonly number[]).includes(a)) {
      throw new InputError(`search space values must be among ${DAN_ALPHAS.join(', ')}, got ${a}`, 'space');
    }
  }
  if (sorted.length < 2) throw new InputError('a search space needs at least two α values', 'space');
  return sorted;
}

export function validateSearchConfig(c: SearchConfig): SearchConfig {
  validateModelConfig(c.model);
  validateSpace(c.space);
  if (!Number.isFinite(c.gamma) || c.gamma < 0) throw new InputError(`γ must be a non-negative number, got ${c.gamma}`, 'gamma');
  if (!Number.isInteger(c.epochs) || c.epochs < 1) throw new InputError(`epochs must be a positive integer, got ${c.epochs}`, 'epochs');
  if (!Number.isInteger(c.batchSize) || c.batchSize < 1) throw new InputError(`batch must be a positive integer, got ${c.batchSize}`, 'batch');
  validateSchedule(c.schedule);
  validateOptimizer(c.optimizer, c.schedule);
  if (!Number.isFinite(c.archLr) || c.archLr <= 0) throw new InputError(`the η learning rate must be positive, got ${c.archLr}`, 'archLr');
  if (!Number.isFinite(c.tau.initial) || c.tau.initial <= 0) throw new InputError(`τ must start positive, got ${c.tau.initial}`, 'tau');
  if (!Number.isFinite(c.tau.decay) || c.tau.decay < 0) throw new InputError(`τ decay must be ≥ 0, got ${c.tau.decay}`, 'tauDecay');
  if (c.noise !== 'fresh' && c.noise !== 'fixed') throw new InputError(`noise must be fresh or fixed, got ${String(c.noise)}`, 'noise');
  validatePlan(searchPlan(c));
  return c;
}

function validatePlan(p: SearchPlan): void {
  const finite = (v: number): boolean => Number.isFinite(v);
  if (p.budget !== null) {
    const b = p.budget;
    if (!finite(b.targetMacs) || b.targetMacs <= 0) throw new InputError(`the MACs target must be positive, got ${b.targetMacs}`, 'targetMacs');
    if (!finite(b.tolerance) || b.tolerance < 0 || b.tolerance >= 0.5)
      throw new InputError(`the budget tolerance must be in [0, 0.5), got ${b.tolerance}`, 'tolerance');
    if (!finite(b.weight) || b.weight < 0) throw new InputError(`the budget weight must be ≥ 0, got ${b.weight}`, 'budgetWeight');
  }
  if (p.tauSchedule !== 'paper' && p.tauSchedule !== 'progress')
    throw new InputError(`τ schedule must be paper or progress, got ${String(p.tauSchedule)}`, 'tauSchedule');
  const { start, end } = p.tauRange;
  if (!finite(start) || !finite(end) || end <= 0 || start < end)
    throw new InputError(`τ must go from a start ≥ its end > 0, got ${start} → ${end}`, 'tauStart');
  if (!finite(p.warmup) || p.warmup < 0 || p.warmup >= 1) throw new InputError(`the warm-up must be a fraction in [0, 1), got ${p.warmup}`, 'warmup');
  if (!finite(p.heldOut) || p.heldOut < 0 || p.heldOut > 0.9) throw new InputError(`the held-out share must be in [0, 0.9], got ${p.heldOut}`, 'heldOut');
  if (!finite(p.archBeta1) || p.archBeta1 < 0 || p.archBeta1 >= 1) throw new InputError(`η's β₁ must be in [0, 1), got ${p.archBeta1}`, 'archBeta1');
  if (p.etaTravel !== null && (!finite(p.etaTravel) || p.etaTravel <= 0)) throw new InputError(`η's travel must be positive, got ${p.etaTravel}`, 'etaTravel');
}

/** One width group's state at the end of a search epoch. */
export interface GroupChoice {
  group: string;
  /** Full-width channel count of the group's convolutions. */
  channels: number;
  /** softmax(η/τ) over the search space (no noise): the heatmap's row. */
  probabilities: number[];
  eta: number[];
  /** α of argmax η. */
  alpha: number;
}

/**
 * The adjoined network a search trains: its small path at the widest
 * candidate (α = min A) — what a search run records as its network until it
 * has found one.
 */
export function superNetworkConfig(c: SearchConfig): AdjoinedConfig {
  return {
    model: c.model,
    mode: 'an',
    alpha: Object.fromEntries(buildGraph(c.model).groups.map((g) => [g, Math.min(...c.space)])),
    epochs: c.epochs,
    batchSize: c.batchSize,
    optimizer: c.optimizer,
    schedule: c.schedule,
    loss: c.loss,
    augmentation: c.augmentation,
    seed: c.seed,
    checkpointEvery: c.checkpointEvery,
  };
}

/** The adjoined training of what a search found. */
export function foundNetworkConfig(c: SearchConfig, alphas: Record<string, number>, epochs: number): AdjoinedConfig {
  return { ...superNetworkConfig(c), alpha: alphas, epochs };
}
