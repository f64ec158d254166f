import { join, resolve } from 'node:path';
import { InputError } from '../../shared/errors.js';
import { ARCHITECTURES, STEMS } from '../../shared/model/config.js';
import { LAMBDA_KINDS } from '../../shared/schedules.js';
import { AUGMENTATIONS, DEFAULT_LOSS, RECIPES, recipe, type AdjoinedLossConfig, type Augmentation, type OptimizerConfig } from '../../shared/train-config.js';
import type { LrSchedule } from '../../shared/schedules.js';
import { choiceArg, intArg, numberArg, type Options } from './args.js';

/** Flags every training-like command (train, search) shares. */
export const RUN_FLAGS = {
  data: { type: 'string' },
  arch: { type: 'string' },
  stem: { type: 'string' },
  width: { type: 'string' },
  'compress-first-stage': { type: 'boolean' },
  epochs: { type: 'string' },
  batch: { type: 'string' },
  'limit-train': { type: 'string' },
  'limit-val': { type: 'string' },
  out: { type: 'string' },
  json: { type: 'boolean' },
  resume: { type: 'boolean' },
  recipe: { type: 'string' },
  lr: { type: 'string' },
  lambda: { type: 'string' },
  c: { type: 'string' },
  'small-ce': { type: 'string' },
  augment: { type: 'string' },
  seed: { type: 'string' },
  'checkpoint-every': { type: 'string' },
} as const satisfies Options;

type Values = Partial<Record<keyof typeof RUN_FLAGS, string | boolean>>;

const str = (v: string | boolean | undefined): string | undefined => (typeof v === 'string' ? v : undefined);

export interface RunSettings {
  model: { arch: (typeof ARCHITECTURES)[number]; stem: (typeof STEMS)[number]; width: number; compressFirstStage: boolean };
  epochs: number;
  batchSize: number;
  optimizer: OptimizerConfig;
  schedule: LrSchedule;
  loss: AdjoinedLossConfig;
  augmentation: Augmentation;
  seed: number;
  checkpointEvery: number;
}

/** Reads the shared flags, checking each so a bad one is named before anything runs. */
export function runSettings(values: Values): RunSettings {
  const base = recipe(choiceArg(str(values.recipe), 'recipe', RECIPES, 'cifar'));
  return {
    model: {
      arch: choiceArg(str(values.arch), 'arch', ARCHITECTURES, 'resnet18'),
      stem: choiceArg(str(values.stem), 'stem', STEMS, 'cifar'),
      width: numberArg(str(values.width), 'width', 1),
      compressFirstStage: values['compress-first-stage'] === true,
    },
    epochs: intArg(str(values.epochs), 'epochs', 10),
    batchSize: intArg(str(values.batch), 'batch', 64),
    optimizer: { ...base.optimizer, lr: numberArg(str(values.lr), 'lr', base.optimizer.lr) },
    schedule: base.schedule,
    loss: {
      lambda: choiceArg(str(values.lambda), 'lambda', LAMBDA_KINDS, DEFAULT_LOSS.lambda),
      c: numberArg(str(values.c), 'c', DEFAULT_LOSS.c),
      smallCe: numberArg(str(values['small-ce']), 'small-ce', DEFAULT_LOSS.smallCe),
    },
    augmentation: choiceArg(str(values.augment), 'augment', AUGMENTATIONS, base.augmentation),
    seed: intArg(str(values.seed), 'seed', 0),
    checkpointEvery: intArg(str(values['checkpoint-every']), 'checkpoint-every', 1),
  };
}

function timestamp(): string {
  return new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
}

/** `--out`, or a fresh timestamped folder under ./adjoin-runs; `--resume` needs an explicit one. */
export function outputFolder(values: Values, label: string): string {
  const out = str(values.out);
  if (values.resume === true && out === undefined) throw new InputError('--resume needs --out <the run folder to resume>', 'out');
  return resolve(out ?? join('adjoin-runs', `${timestamp()}-${label}`));
}
