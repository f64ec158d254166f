import { assertNever, InputError } from './errors.js';
import { type AlphaSpec, type ModelConfig, validateGlobalAlpha, validateModelConfig } from './model/config.js';
import { isLambdaKind, type LambdaKind, type LrSchedule, ONE_CYCLE, validateSchedule } from './schedules.js';

export const TRAIN_MODES = ['standard', 'an', 'small', 'kd'] as const;
/**
 * `standard`: the plain network. `an`: the adjoined pair (full + small sharing
 * weights). `small`: the small architecture of α alone, with cross-entropy —
 * the honest baseline. `kd`: that small architecture distilled from the full
 * network of a finished standard run (Hinton et al.).
 */
export type TrainMode = (typeof TRAIN_MODES)[number];

/** Modes that train only the small architecture of α (no full network). */
export function trainsSmallOnly(mode: TrainMode): mode is 'small' | 'kd' {
  return mode === 'small' || mode === 'kd';
}

/** Knowledge distillation: L = (1 − weight)·CE(y, q) + weight·T²·KL(softmax(p/T) ‖ softmax(q/T)). */
export interface KdConfig {
  /** The teacher: the trained network bundle of a finished standard run. */
  teacher: string;
  /** The history's id of that run, when known (shown, and used to check its dataset). */
  teacherRun: number | null;
  temperature: number;
  weight: number;
}

export const DEFAULT_KD = { temperature: 4, weight: 0.9 } as const;

/**
 * PyTorch's SGD (L2 weight decay added to the gradient, the momentum buffer
 * started at the first gradient, Nesterov's look-ahead as an option) and Adam.
 * A schedule that cycles momentum (`onecycle`) sets SGD's `momentum` or
 * Adam's `beta1` at every step instead.
 */
export type OptimizerConfig =
  | { kind: 'sgd'; lr: number; momentum: number; nesterov: boolean; weightDecay: number }
  | { kind: 'adam'; lr: number; beta1: number; beta2: number; epsilon: number; weightDecay: number };

export const AUGMENTATIONS = ['none', 'cifar', 'imagenet'] as const;
/** Appendix B: `cifar` flips; `imagenet` adds random resized crops. Both normalise. */
export type Augmentation = (typeof AUGMENTATIONS)[number];

export interface AdjoinedLossConfig {
  lambda: LambdaKind;
  /** The constant c of λ(t) = c·f(t) (appendix E); the paper uses 1. */
  c: number;
  /** β of our label loss on the small path; 0 is the paper's loss. */
  smallCe: number;
}

/** What every training run sets, whatever its mode. */
export interface TrainSettings {
  model: ModelConfig;
  epochs: number;
  batchSize: number;
  optimizer: OptimizerConfig;
  schedule: LrSchedule;
  loss: AdjoinedLossConfig;
  augmentation: Augmentation;
  seed: number;
  /** Evaluate and checkpoint every this many epochs (the last epoch always). */
  checkpointEvery: number;
}

/** The plain network. `alpha` stays in the JSON (null) so stored runs and `--json` keep their shape. */
export interface StandardConfig extends TrainSettings {
  mode: 'standard';
  alpha: null;
}

/** The small architecture of α trained alone, with cross-entropy. */
export interface SmallConfig extends TrainSettings {
  mode: 'small';
  /** Global α or per-group α map. */
  alpha: AlphaSpec;
}

/** The adjoined pair: full and small paths sharing weights. */
export interface AdjoinedConfig extends TrainSettings {
  mode: 'an';
  alpha: AlphaSpec;
}

/** The small architecture of α distilled from a finished standard run. */
export interface DistillConfig extends TrainSettings {
  mode: 'kd';
  alpha: AlphaSpec;
  kd: KdConfig;
}

/** A training run's whole configuration, told apart by `mode`. */
export type TrainConfig = StandardConfig | SmallConfig | AdjoinedConfig | DistillConfig;

/** Modes that have a small network (the adjoined one, or the small architecture alone). */
export type CompressedConfig = Exclude<TrainConfig, StandardConfig>;

/**
 * Every mode a user can pick: the four training modes and `dan`, a width
 * search (its own SearchConfig) that then trains what it found adjoinedly.
 */
export const RUN_MODES = [...TRAIN_MODES, 'dan'] as const;
export type RunMode = (typeof RUN_MODES)[number];

/** The teacher of a kd run, before the host has resolved its trained network. */
export type KdChoice = Omit<KdConfig, 'teacher'> & { teacher?: string };

/**
 * Assembles the config of `mode` from its parts, refusing the parts a mode
 * lacks (an α for a compressed mode, a teacher for kd) with the field named.
 */
export function trainConfigOf(settings: TrainSettings, mode: TrainMode, alpha: AlphaSpec | null, kd: KdConfig | null = null): TrainConfig {
  if (mode === 'standard') return { ...settings, mode, alpha: null };
  if (alpha === null) throw new InputError(`mode ${mode} needs an α`, 'alpha');
  switch (mode) {
    case 'small':
    case 'an':
      return { ...settings, mode, alpha };
    case 'kd':
      if (kd === null) throw new InputError('mode kd needs a teacher: a finished standard run', 'teacher');
      return { ...settings, mode, alpha, kd };
    default:
      return assertNever(mode, 'training mode');
  }
}

/** The fields every mode shares, without the mode's own. */
export function settingsOf(c: TrainConfig): TrainSettings {
  const { model, epochs, batchSize, optimizer, schedule, loss, augmentation, seed, checkpointEvery } = c;
  return { model, epochs, batchSize, optimizer, schedule, loss, augmentation, seed, checkpointEvery };
}

export const RECIPES = ['short', 'cifar', 'imagenet'] as const;
export type Recipe = (typeof RECIPES)[number];

/** What a recipe decides: the optimiser, its schedule and the augmentation. */
export interface RecipeSettings {
  optimizer: OptimizerConfig;
  schedule: LrSchedule;
  augmentation: Augmentation;
}

/** The recipe a run gets unless it names one. */
export const DEFAULT_RECIPE: Recipe = 'short';

/** The batch size at which the short recipe's peak learning rate is 0.05. */
export const SHORT_RECIPE_BATCH = 64;

/**
 * `short`: for runs of 5–30 epochs, where the paper's step schedule (made
 * for 240) leaves accuracy behind — SGD with Nesterov momentum,
 * PyTorch's OneCycleLR (momentum cycled 0.95 → 0.85 → 0.95), peak lr 0.05 at
 * batch 64 scaled linearly with the batch size, weight decay 5e-4, flips.
 * The paper's two recipes (appendix B), scaled to any epoch count and kept
 * as published: `cifar` — SGD lr 0.05, ×0.1 at epochs 150, 180 and 210 of
 * 240; `imagenet` — Adam lr 4e-3, gradual warm-up then cosine. Only `short`
 * reads `batchSize`.
 */
export function recipe(name: Recipe, batchSize: number = SHORT_RECIPE_BATCH): RecipeSettings {
  switch (name) {
    case 'short':
      return {
        // The momentum here is the cycle's midpoint, for reading only: the schedule sets it every step.
        optimizer: { kind: 'sgd', lr: (0.05 * batchSize) / SHORT_RECIPE_BATCH, momentum: 0.9, nesterov: true, weightDecay: 5e-4 },
        schedule: ONE_CYCLE,
        augmentation: 'cifar',
      };
    case 'cifar':
      return {
        optimizer: { kind: 'sgd', lr: 0.05, momentum: 0.9, nesterov: false, weightDecay: 5e-4 },
        schedule: { kind: 'multistep', milestones: [150 / 240, 180 / 240, 210 / 240], gamma: 0.1 },
        augmentation: 'cifar',
      };
    case 'imagenet':
      return {
        optimizer: { kind: 'adam', lr: 4e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0 },
        schedule: { kind: 'cosine', warmup: 0.05 },
        augmentation: 'imagenet',
      };
    default:
      return assertNever(name, 'recipe');
  }
}

/**
 * β of the small path's label loss a recipe comes with: the short recipe's
 * 1 (a good small network even on short runs); the paper's recipes keep the
 * paper's loss, β = 0.
 */
export function recipeSmallCe(name: Recipe): number {
  return name === 'short' ? 1 : 0;
}

/**
 * The optimiser's own numbers; a schedule that cycles momentum makes the
 * optimiser's momentum (β1) unused, so Nesterov then needs none of its own.
 */
export function validateOptimizer(o: OptimizerConfig, schedule: LrSchedule): OptimizerConfig {
  if (!Number.isFinite(o.lr) || o.lr <= 0) throw new InputError(`learning rate must be positive, got ${o.lr}`, 'lr');
  finiteNonNegative(o.weightDecay, 'weightDecay');
  const cycled = schedule.kind === 'onecycle' && schedule.momentum !== null;
  switch (o.kind) {
    case 'sgd':
      if (!Number.isFinite(o.momentum) || o.momentum < 0 || o.momentum >= 1)
        throw new InputError(`momentum must be from 0 to below 1, got ${o.momentum}`, 'momentum');
      if (o.nesterov && o.momentum === 0 && !cycled) throw new InputError('Nesterov momentum needs a momentum above 0', 'momentum');
      return o;
    case 'adam':
      for (const [field, v] of [
        ['beta1', o.beta1],
        ['beta2', o.beta2],
      ] as const) {
        if (!Number.isFinite(v) || v < 0 || v >= 1) throw new InputError(`Adam's ${field} must be from 0 to below 1, got ${v}`, field);
      }
      if (!Number.isFinite(o.epsilon) || o.epsilon <= 0) throw new InputError(`Adam's epsilon must be positive, got ${o.epsilon}`, 'epsilon');
      return o;
    default:
      return assertNever(o, 'optimizer');
  }
}

export const DEFAULT_LOSS: AdjoinedLossConfig = { lambda: 'quadratic', c: 1, smallCe: 0 };

function positiveInt(v: number, field: string, max: number): void {
  if (!Number.isInteger(v) || v < 1 || v > max) throw new InputError(`${field} must be an integer from 1 to ${max}, got ${v}`, field);
}

function finiteNonNegative(v: number, field: string): void {
  if (!Number.isFinite(v) || v < 0) throw new InputError(`${field} must be a non-negative number, got ${v}`, field);
}

/** Checks the values of a config whose shape the type (or a decoder) already guarantees. */
export function validateTrainConfig<C extends TrainConfig>(c: C): C {
  validateModelConfig(c.model);
  const mode: string = c.mode;
  if (!(TRAIN_MODES as readonly string[]).includes(mode)) throw new InputError(`unknown mode '${mode}' (choose ${TRAIN_MODES.join(', ')})`, 'mode');
  if (c.mode === 'kd') {
    const { kd } = c;
    if (kd.teacher === '') throw new InputError('mode kd needs a teacher: a finished standard run', 'teacher');
    if (!Number.isFinite(kd.temperature) || kd.temperature <= 0) {
      throw new InputError(`the distillation temperature must be positive, got ${kd.temperature}`, 'temperature');
    }
    if (!Number.isFinite(kd.weight) || kd.weight < 0 || kd.weight > 1) {
      throw new InputError(`the distillation weight must be from 0 to 1, got ${kd.weight}`, 'kdWeight');
    }
  }
  if (c.mode !== 'standard' && typeof c.alpha === 'number') validateGlobalAlpha(c.alpha);
  positiveInt(c.epochs, 'epochs', 100000);
  positiveInt(c.batchSize, 'batch', 65536);
  positiveInt(c.checkpointEvery, 'checkpointEvery', 100000);
  validateSchedule(c.schedule);
  validateOptimizer(c.optimizer, c.schedule);
  if (!isLambdaKind(c.loss.lambda)) throw new InputError(`unknown λ(t) '${String(c.loss.lambda)}'`, 'lambda');
  finiteNonNegative(c.loss.c, 'c');
  finiteNonNegative(c.loss.smallCe, 'smallCe');
  if (!Number.isInteger(c.seed) || c.seed < 0) throw new InputError(`seed must be a non-negative integer, got ${c.seed}`, 'seed');
  return c;
}
