import {
  arr,
  bool,
  type Decoder,
  either,
  int,
  nullable,
  num,
  obj,
  oneOf,
  record,
  str,
  tagged,
} from '../../shared/decode.js';
import { validateSearchConfig } from '../../shared/dan.js';
import type { DataInfo, RunOutputs } from '../../shared/events.js';
import type { SearchRecord } from '../../shared/history.js';
import { ARCHITECTURES, STEMS } from '../../shared/model/config.js';
import { LAMBDA_KINDS, type LrSchedule } from '../../shared/schedules.js';
import { AUGMENTATIONS, TRAIN_MODES, type OptimizerConfig, type TrainConfig, validateTrainConfig } from '../../shared/train-config.js';

/**
 * Decoders of the JSON the store keeps in text columns. What SQLite gives
 * back is checked once here; code above the store trusts the types.
 */

const optimizer: Decoder<OptimizerConfig> = tagged('kind', {
  sgd: obj({ kind: oneOf(['sgd'] as const), lr: num, momentum: num, nesterov: bool, weightDecay: num }),
  adam: obj({ kind: oneOf(['adam'] as const), lr: num, beta1: num, beta2: num, epsilon: num, weightDecay: num }),
});

const schedule: Decoder<LrSchedule> = tagged('kind', {
  constant: obj({ kind: oneOf(['constant'] as const) }),
  multistep: obj({ kind: oneOf(['multistep'] as const), milestones: arr(num), gamma: num }),
  cosine: obj({ kind: oneOf(['cosine'] as const), warmup: num }),
});

const model = obj({
  arch: oneOf(ARCHITECTURES),
  stem: oneOf(STEMS),
  inputSize: int,
  channels: oneOf([1, 3] as const),
  classes: int,
  width: num,
  compressFirstStage: bool,
});

const loss = obj({ lambda: oneOf(LAMBDA_KINDS), c: num, smallCe: num });

const trainConfigShape = obj({
  model,
  mode: oneOf(TRAIN_MODES),
  alpha: nullable(either(num, record(int), 'a number or a map of width group to α')),
  epochs: int,
  batchSize: int,
  optimizer,
  schedule,
  loss,
  augmentation: oneOf(AUGMENTATIONS),
  seed: int,
  checkpointEvery: int,
});

/** A run's full training config: its shape, then the same rules a new run must pass. */
export const trainConfig: Decoder<TrainConfig> = (v, path) => validateTrainConfig(trainConfigShape(v, path));

const searchConfigShape = obj({
  model,
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
});

const cost = obj({ params: int, macs: int });

/** A DAN search job: its config (checked like a new one), the training epochs after it, and its answer. */
export const searchRecord: Decoder<SearchRecord> = obj({
  config: (v, path) => validateSearchConfig(searchConfigShape(v, path)),
  thenTrain: nullable(int),
  result: nullable(obj({ alphas: record(int), cost: obj({ full: cost, small: cost }) })),
});

export const dataInfo: Decoder<DataInfo> = obj({
  name: str,
  source: str,
  classes: arr(str),
  trainCount: int,
  valCount: int,
  height: int,
  width: int,
  channels: int,
  mean: arr(num),
  std: arr(num),
});

export const runOutputs: Decoder<RunOutputs> = obj({
  network: str,
  small: nullable(obj({ bundle: str, tfjs: str })),
  summary: str,
});

export const confusion: Decoder<number[][]> = arr(arr(int));

export const logits: Decoder<number[]> = arr(num);

export const jsonObject: Decoder<Record<string, unknown>> = record((v) => v);
