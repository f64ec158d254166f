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
}

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
  return c;
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
