import type { DataSource } from '../../../shared/api.js';
import { budgetedSearch, DEFAULT_ARCH_LR, DEFAULT_TAU, type SearchConfig } from '../../../shared/dan.js';
import { feasibleMacs } from '../../../shared/search-budget.js';
import { assertNever, InputError } from '../../../shared/errors.js';
import type { AlphaSpec, Architecture, ModelConfig, Stem } from '../../../shared/model/config.js';
import { type Cost, costReport } from '../../../shared/model/cost.js';
import { buildGraph } from '../../../shared/model/graph.js';
import { type LambdaKind, lrAtStep } from '../../../shared/schedules.js';
import {
  type OptimizerConfig,
  type Recipe,
  recipe,
  recipeSmallCe,
  type RunMode,
  SHORT_RECIPE_BATCH,
  type TrainConfig,
  trainConfigOf as configOfMode,
  type TrainSettings as RunSettings,
} from '../../../shared/train-config.js';

/**
 * What the wizard's forms hold, and how they become the API's requests:
 * a TrainConfig (`runs:start`) or a SearchConfig (`runs:search`) and the
 * DataSource both read. Pure, so the same code the UI runs is unit-tested.
 */

/** The modes the wizard offers (small and kd are sweep baselines). `dan` is a search (runs:search) that then trains what it found adjoinedly. */
export type WizardMode = Extract<RunMode, 'standard' | 'an' | 'dan'>;
export const MODES: readonly WizardMode[] = ['standard', 'an', 'dan'];

export interface ModelSettings {
  arch: Architecture;
  stem: Stem;
  inputSize: number;
  channels: 1 | 3;
  width: number;
  compressFirstStage: boolean;
  mode: WizardMode;
  /** Global α of AN mode. */
  alpha: number;
  /** DAN: the α choices searched, ascending. */
  space: number[];
  /** DAN: search under a MACs budget (recommended), or the paper's γ term. */
  danCost: 'budget' | 'gamma';
  /** DAN budget: the small network's target MACs; null is the MACs of fixed α = 4 (kept inside the feasible range). */
  targetMacs: number | null;
  /** DAN, the paper's mode: weight of the expected-MACs term (our scale: MACs over full MACs). */
  gamma: number;
  /** DAN: epochs of adjoined training of the found network; 0 searches only. */
  thenTrain: number;
}

/** Where the Model screen starts: a ResNet-18 at a quarter width (quick on a CPU), AN with α = 4. */
export const DEFAULT_MODEL_SETTINGS: ModelSettings = {
  arch: 'resnet18',
  stem: 'cifar',
  inputSize: 32,
  channels: 3,
  width: 0.25,
  compressFirstStage: false,
  mode: 'an',
  alpha: 4,
  space: [1, 2, 4, 8, 16],
  danCost: 'budget',
  targetMacs: null,
  gamma: 1,
  thenTrain: 5,
};

export const PRESETS = ['recommended', 'paper-cifar', 'paper-imagenet'] as const;
export type PresetId = (typeof PRESETS)[number];

export interface Preset {
  id: PresetId;
  label: string;
  recipe: Recipe;
  /** β of the small path's label loss. */
  smallCe: number;
  description: string;
}

/**
 * Recommended is the short-run recipe with its β = 1: the runs people make
 * here last 5–30 epochs, where the paper's 240-epoch steps leave accuracy
 * behind; the paper's presets keep its recipes and its loss, β = 0
 * (docs/ARCHITECTURE.md, "The method in the code").
 */
export const PRESET_INFO: Record<PresetId, Preset> = {
  recommended: {
    id: 'recommended',
    label: 'Recommended',
    recipe: 'short',
    smallCe: recipeSmallCe('short'),
    description:
      'Short-run recipe: SGD with Nesterov momentum, one-cycle learning rate (peak 0.05 at batch 64, scaled with the batch) and momentum (0.95 → 0.85 → 0.95), weight decay 5e-4, flips; a label loss on the small network (β = 1).',
  },
  'paper-cifar': {
    id: 'paper-cifar',
    label: 'Paper — CIFAR',
    recipe: 'cifar',
    smallCe: 0,
    description: 'The paper’s CIFAR recipe and loss (β = 0): SGD lr 0.05, momentum 0.9, weight decay 5e-4, horizontal flips.',
  },
  'paper-imagenet': {
    id: 'paper-imagenet',
    label: 'Paper — ImageNet',
    recipe: 'imagenet',
    smallCe: 0,
    description: 'The paper’s ImageNet recipe and loss (β = 0): Adam lr 4e-3, warm-up then cosine, random resized crops.',
  },
};

export interface TrainSettings {
  preset: PresetId;
  epochs: number;
  batchSize: number;
  lambda: LambdaKind;
  /** The constant c of λ(t) = c·f(t). */
  c: number;
  smallCe: number;
  lr: number;
  /** Use only the first N training images (null: all). */
  limitTrain: number | null;
  seed: number;
}

export function defaultTrainSettings(preset: PresetId = 'recommended'): TrainSettings {
  const p = PRESET_INFO[preset];
  const batchSize = SHORT_RECIPE_BATCH;
  return { preset, epochs: 10, batchSize, lambda: 'quadratic', c: 1, smallCe: p.smallCe, lr: presetLr(preset, batchSize), limitTrain: null, seed: 0 };
}

/** The learning rate a preset gives at this batch size (the short recipe's scales with it). */
export function presetLr(preset: PresetId, batchSize: number): number {
  // While the field is empty or invalid, the rate stays the reference batch's.
  const batch = Number.isInteger(batchSize) && batchSize > 0 ? batchSize : SHORT_RECIPE_BATCH;
  return recipe(PRESET_INFO[preset].recipe, batch).optimizer.lr;
}

/** Switching preset resets the fields the preset decides (lr and β) and keeps the rest. */
export function applyPreset(t: TrainSettings, preset: PresetId): TrainSettings {
  const p = PRESET_INFO[preset];
  return { ...t, preset, smallCe: p.smallCe, lr: presetLr(preset, t.batchSize) };
}

/**
 * A new batch size: the preset's learning rate follows it (linear scaling,
 * the short recipe's rule) unless the user has typed a rate of their own.
 */
export function withBatchSize(t: TrainSettings, batchSize: number): TrainSettings {
  const presetRate = presetLr(t.preset, t.batchSize);
  const untouched = Math.abs(t.lr - presetRate) <= 1e-12 * presetRate;
  return { ...t, batchSize, lr: untouched ? presetLr(t.preset, batchSize) : t.lr };
}

/** The schedule of a preset, in words: the lr plot's legend. */
export function scheduleLabel(preset: PresetId): string {
  const r = recipe(PRESET_INFO[preset].recipe);
  const optimizer = r.optimizer.kind === 'adam' ? 'Adam' : r.optimizer.nesterov ? 'SGD-Nesterov' : 'SGD';
  const kind = r.schedule.kind;
  switch (kind) {
    case 'constant':
      return `${optimizer}, constant`;
    case 'multistep':
      return `${optimizer}, multistep`;
    case 'cosine':
      return `${optimizer}, warm-up + cosine`;
    case 'onecycle':
      return `${optimizer}, one-cycle`;
    default:
      return assertNever(kind, 'lr schedule');
  }
}

/** Steps of the run the lr preview draws (the shape, not the run's own count, which depends on the data). */
const PREVIEW_STEPS = 1000;

/** The preset's learning rate over a run at the form's rate, sampled at n + 1 fractions t of the run. */
export function lrPreview(t: TrainSettings, n = 120): Array<{ x: number; y: number }> {
  const schedule = recipe(PRESET_INFO[t.preset].recipe).schedule;
  return Array.from({ length: n + 1 }, (_, i) => {
    const x = i / n;
    return { x, y: lrAtStep(schedule, t.lr, Math.round(x * (PREVIEW_STEPS - 1)), PREVIEW_STEPS) };
  });
}

export function modelConfigOf(s: ModelSettings, classes: number): ModelConfig {
  return {
    arch: s.arch,
    stem: s.stem,
    inputSize: s.inputSize,
    channels: s.channels,
    classes,
    width: s.width,
    compressFirstStage: s.compressFirstStage,
  };
}

function optimizerOf(t: TrainSettings): Pick<RunSettings, 'optimizer' | 'schedule' | 'augmentation'> {
  const r = recipe(PRESET_INFO[t.preset].recipe);
  const optimizer: OptimizerConfig = { ...r.optimizer, lr: t.lr };
  return { optimizer, schedule: r.schedule, augmentation: r.augmentation };
}

/** The request of `runs:start` (standard and AN modes). */
export function trainConfigOf(s: ModelSettings, t: TrainSettings, classes: number): TrainConfig {
  if (s.mode === 'dan') throw new Error('a DAN run is a search: use searchConfigOf');
  const settings: RunSettings = {
    model: modelConfigOf(s, classes),
    epochs: t.epochs,
    batchSize: t.batchSize,
    ...optimizerOf(t),
    loss: { lambda: t.lambda, c: t.c, smallCe: t.smallCe },
    seed: t.seed,
    checkpointEvery: 1,
  };
  return configOfMode(settings, s.mode, s.mode === 'an' ? s.alpha : null);
}

/** A DAN budget as the slider shows it: the feasible range of the space and the target inside it. */
export interface DanBudget {
  min: number;
  max: number;
  full: number;
  target: number;
}

/** The budget of a DAN search on these settings; null when the space or the network is not valid yet. */
export function danBudget(s: ModelSettings, classes: number): DanBudget | null {
  try {
    const model = modelConfigOf(s, classes);
    const space = [...s.space].sort((a, b) => a - b);
    if (space.length < 2) return null;
    const feasible = feasibleMacs(model, space);
    const wanted = s.targetMacs ?? costOf(model, 4).macs;
    return { ...feasible, target: Math.round(Math.min(feasible.max, Math.max(feasible.min, wanted))) };
  } catch {
    return null;
  }
}

/** The request of `runs:search` (DAN mode); `epochs` are the search's. */
export function searchConfigOf(s: ModelSettings, t: TrainSettings, classes: number): SearchConfig {
  const budget = s.danCost === 'budget' ? danBudget(s, classes) : null;
  return {
    ...paperSearchConfigOf(s, t, classes),
    ...(budget === null ? {} : budgetedSearch(budget.target)),
  };
}

function paperSearchConfigOf(s: ModelSettings, t: TrainSettings, classes: number): SearchConfig {
  return {
    model: modelConfigOf(s, classes),
    space: [...s.space].sort((a, b) => a - b),
    gamma: s.gamma,
    epochs: t.epochs,
    batchSize: t.batchSize,
    ...optimizerOf(t),
    archLr: DEFAULT_ARCH_LR,
    loss: { lambda: t.lambda, c: t.c, smallCe: t.smallCe },
    tau: { initial: DEFAULT_TAU.initial, decay: DEFAULT_TAU.decay },
    noise: 'fresh',
    seed: t.seed,
    checkpointEvery: 1,
  };
}

/** The model reads the images at the size and channels it was built for. */
export function dataSourceOf(path: string, s: ModelSettings, t: TrainSettings): DataSource {
  return { path, settings: { size: s.inputSize, channels: s.channels }, limitTrain: t.limitTrain, limitVal: null };
}

/** Parameters and MACs of the full network and of the small one (a range for a DAN search). */
export interface Estimate {
  full: Cost;
  small: Cost | null;
  /** DAN: the small network at the widest and at the narrowest choice of the space. */
  range: { widest: Cost; narrowest: Cost } | null;
}

export type EstimateResult = { ok: true; value: Estimate } | { ok: false; field: string; message: string };

function costOf(model: ModelConfig, alpha: AlphaSpec): Cost {
  const small = costReport(buildGraph(model), alpha).small;
  if (small === null) throw new Error('a cost report with α has a small network');
  return small;
}

/**
 * Computed in the renderer from shared/model (no round trip), so the
 * estimate follows every change of the form at once.
 */
export function estimate(s: ModelSettings, classes: number): EstimateResult {
  try {
    const model = modelConfigOf(s, classes);
    const full = costReport(buildGraph(model)).full;
    if (s.mode === 'standard') return { ok: true, value: { full, small: null, range: null } };
    if (s.mode === 'an') return { ok: true, value: { full, small: costOf(model, s.alpha), range: null } };
    if (s.space.length < 2) return { ok: false, field: 'space', message: 'a search space needs at least two α values' };
    const widest = costOf(model, Math.min(...s.space));
    const narrowest = costOf(model, Math.max(...s.space));
    return { ok: true, value: { full, small: null, range: { widest, narrowest } } };
  } catch (error) {
    if (error instanceof InputError) return { ok: false, field: error.field, message: error.message };
    return { ok: false, field: 'model', message: error instanceof Error ? error.message : String(error) };
  }
}

/** Bytes of a model's weights: 4 per parameter in float32, 2 in float16. */
export function weightBytes(params: number, precision: 'float32' | 'float16'): number {
  return params * (precision === 'float32' ? 4 : 2);
}
