import type { DataSource } from './api.js';
import { validateSearchConfig, type SearchConfig } from './dan.js';
import type { ImportSettings } from './dataset.js';
import { arr, bool, DecodeError, type Decoder, either, int, nullable, num, obj, oneOf, optional, record, str, tagged } from './decode.js';
import { ARCHITECTURES, STEMS, type ModelConfig } from './model/config.js';
import { LAMBDA_KINDS, type LrSchedule } from './schedules.js';
import { validateSweepSpec, type SweepSpec } from './sweep.js';
import { AUGMENTATIONS, TRAIN_MODES, type AdjoinedLossConfig, type OptimizerConfig, type TrainConfig, validateTrainConfig } from './train-config.js';

/**
 * Decoders of run configurations, wherever they come from: JSON the store
 * reads back, requests the renderer sends. Each checks the shape, then the
 * same rules a new run must pass.
 */

export const optimizer: Decoder<OptimizerConfig> = tagged('kind', {
  sgd: obj({ kind: oneOf(['sgd'] as const), lr: num, momentum: num, nesterov: bool, weightDecay: num }),
  adam: obj({ kind: oneOf(['adam'] as const), lr: num, beta1: num, beta2: num, epsilon: num, weightDecay: num }),
});

export const schedule: Decoder<LrSchedule> = tagged('kind', {
  constant: obj({ kind: oneOf(['constant'] as const) }),
  multistep: obj({ kind: oneOf(['multistep'] as const), milestones: arr(num), gamma: num }),
  cosine: obj({ kind: oneOf(['cosine'] as const), warmup: num }),
  onecycle: obj({
    kind: oneOf(['onecycle'] as const),
    pctStart: num,
    divFactor: num,
    finalDivFactor: num,
    momentum: nullable(obj({ base: num, max: num })),
  }),
});

export const modelConfig: Decoder<ModelConfig> = obj({
  arch: oneOf(ARCHITECTURES),
  stem: oneOf(STEMS),
  inputSize: int,
  channels: oneOf([1, 3] as const),
  classes: int,
  width: num,
  compressFirstStage: bool,
});

export const loss: Decoder<AdjoinedLossConfig> = obj({ lambda: oneOf(LAMBDA_KINDS), c: num, smallCe: num });

const settingsFields = {
  model: modelConfig,
  epochs: int,
  batchSize: int,
  optimizer,
  schedule,
  loss,
  augmentation: oneOf(AUGMENTATIONS),
  seed: int,
  checkpointEvery: int,
};

const alphaSpec = either(num, record(int), 'a number or a map of width group to α');
const noAlpha: Decoder<null> = (v, path) => {
  if (v !== null) throw new DecodeError(path, 'null (a standard run has no α)', v);
  return null;
};
const kdConfig = obj({ teacher: str, teacherRun: nullable(int), temperature: num, weight: num });

/** Earlier versions wrote `kd: null` into every config; only a kd run has a teacher now. */
function withoutKd<T extends object>(d: Decoder<T>): Decoder<T> {
  return (v, path) => {
    const out = d(v, path) as T & { kd?: unknown };
    delete out.kd;
    return out;
  };
}

const trainConfigShape: Decoder<TrainConfig> = tagged('mode', {
  standard: withoutKd(obj({ ...settingsFields, mode: oneOf(['standard'] as const), alpha: noAlpha })),
  small: withoutKd(obj({ ...settingsFields, mode: oneOf(['small'] as const), alpha: alphaSpec })),
  an: withoutKd(obj({ ...settingsFields, mode: oneOf(['an'] as const), alpha: alphaSpec })),
  kd: obj({ ...settingsFields, mode: oneOf(['kd'] as const), alpha: alphaSpec, kd: kdConfig }),
});

/** A run's full training config: its shape, then the same rules a new run must pass. */
export const trainConfig: Decoder<TrainConfig> = (v, path) => validateTrainConfig(trainConfigShape(v, path));

const searchConfigShape = obj({
  model: modelConfig,
  space: arr(int),
  gamma: num,
  epochs: int,
  batchSize: int,
  optimizer,
  schedule,
  archLr: num,
  loss,
  tau: obj({ initial: num, decay: num }),
  noise: oneOf(['fresh', 'fixed'] as const),
  augmentation: oneOf(AUGMENTATIONS),
  seed: int,
  checkpointEvery: int,
  // Issue 15's fields: absent in configs stored before it, which then search as the paper.
  budget: optional(nullable(obj({ targetMacs: num, tolerance: num, weight: num }))),
  tauSchedule: optional(oneOf(['paper', 'progress'] as const)),
  tauRange: optional(obj({ start: num, end: num })),
  warmup: optional(num),
  heldOut: optional(num),
  archBeta1: optional(num),
  etaTravel: optional(nullable(num)),
});

export const searchConfig: Decoder<SearchConfig> = (v, path) => validateSearchConfig(searchConfigShape(v, path));

export const importSettings: Decoder<Partial<ImportSettings>> = obj({
  size: optional(int),
  channels: optional(oneOf([1, 3] as const)),
  resize: optional(oneOf(['crop', 'stretch'] as const)),
  valSplit: optional(num),
  splitSeed: optional(int),
}) as Decoder<Partial<ImportSettings>>;

/** How a run's images were chosen, as its dataset row keeps it. */
export const recordedSplit = obj({
  limitTrain: optional(nullable(int)),
  limitVal: optional(nullable(int)),
  settings: optional(importSettings),
});

export const dataSource: Decoder<DataSource> = obj({
  path: str,
  settings: importSettings,
  limitTrain: nullable(int),
  limitVal: nullable(int),
});

const sweepSpecShape = obj({
  data: dataSource,
  model: modelConfig,
  modes: arr(oneOf(TRAIN_MODES)),
  alphas: arr(int),
  seeds: arr(int),
  epochs: int,
  batchSize: int,
  optimizer,
  schedule,
  loss,
  smallCes: arr(num),
  augmentation: oneOf(AUGMENTATIONS),
  kd: obj({ temperature: num, weight: num }),
  checkpointEvery: int,
});

export const sweepSpec: Decoder<SweepSpec> = (v, path) => validateSweepSpec(sweepSpecShape(v, path));
