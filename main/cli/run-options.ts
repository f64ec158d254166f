import { resolve } from 'node:path';
import { InputError } from '../../shared/errors.js';
import { ARCHITECTURES, STEMS, type ModelConfig } from '../../shared/model/config.js';
import { LAMBDA_KINDS, type LrSchedule } from '../../shared/schedules.js';
import {
  AUGMENTATIONS,
  DEFAULT_LOSS,
  DEFAULT_RECIPE,
  RECIPES,
  recipe,
  recipeSmallCe,
  type AdjoinedLossConfig,
  type Augmentation,
  type OptimizerConfig,
} from '../../shared/train-config.js';
import type { DataSource } from '../../shared/api.js';
import { datasetCacheDir } from '../app-paths.js';
import type { OpenedDataset } from '../jobs/job-spec.js';
import { runOneShot } from '../jobs/host/one-shot.js';
import { choiceArg, intArg, numberArg, optionalIntArg, type Options } from './args.js';
import type { CommandIo } from './command.js';
import { importSettingsArgs, progressPrinter } from './data-command.js';
import { renderRecord } from './dataset-format.js';

/** Flags every training-like command (train, search) shares. */
export const RUN_FLAGS = {
  data: { type: 'string' },
  size: { type: 'string' },
  channels: { type: 'string' },
  'val-split': { type: 'string' },
  'limit-train': { type: 'string' },
  'limit-val': { type: 'string' },
  arch: { type: 'string' },
  stem: { type: 'string' },
  width: { type: 'string' },
  'compress-first-stage': { type: 'boolean' },
  epochs: { type: 'string' },
  batch: { type: 'string' },
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
  db: { type: 'string' },
  workers: { type: 'string' },
  queue: { type: 'string' },
  'checkpoint-limit': { type: 'string' },
} as const satisfies Options;

export const RUN_USAGE = `[--size N] [--channels 1|3] [--val-split F] [--limit-train N] [--limit-val N] [--out DIR] [--resume] [--json] [--db FILE]
             [--recipe short|cifar|imagenet] [--lr X] [--lambda quadratic|linear|one-minus-cos|exp-minus-one] [--c X] [--small-ce β]
             [--augment none|cifar|imagenet] [--seed N] [--compress-first-stage] [--checkpoint-every N] [--workers N]
             [--queue redis://[user:password@]host:port [--checkpoint-limit MB]]`;

type Values = Partial<Record<string, string | boolean | undefined>>;

const str = (v: string | boolean | undefined): string | undefined => (typeof v === 'string' ? v : undefined);

export interface RunSettings {
  /** The model without its data-given fields (input size, channels, classes). */
  model: Pick<ModelConfig, 'arch' | 'stem' | 'width' | 'compressFirstStage'>;
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
  const recipeName = choiceArg(str(values['recipe']), 'recipe', RECIPES, DEFAULT_RECIPE);
  const batchSize = intArg(str(values['batch']), 'batch', 64);
  // The short recipe's learning rate follows the batch size (--lr, when given, is taken as it is).
  const base = recipe(recipeName, batchSize);
  return {
    model: {
      arch: choiceArg(str(values['arch']), 'arch', ARCHITECTURES, 'resnet18'),
      stem: choiceArg(str(values['stem']), 'stem', STEMS, 'cifar'),
      width: numberArg(str(values['width']), 'width', 1),
      compressFirstStage: values['compress-first-stage'] === true,
    },
    epochs: intArg(str(values['epochs']), 'epochs', 10),
    batchSize,
    optimizer: { ...base.optimizer, lr: numberArg(str(values['lr']), 'lr', base.optimizer.lr) },
    schedule: base.schedule,
    loss: {
      lambda: choiceArg(str(values['lambda']), 'lambda', LAMBDA_KINDS, DEFAULT_LOSS.lambda),
      c: numberArg(str(values['c']), 'c', DEFAULT_LOSS.c),
      smallCe: numberArg(str(values['small-ce']), 'small-ce', recipeSmallCe(recipeName)),
    },
    augmentation: choiceArg(str(values['augment']), 'augment', AUGMENTATIONS, base.augmentation),
    seed: intArg(str(values['seed']), 'seed', 0),
    checkpointEvery: intArg(str(values['checkpoint-every']), 'checkpoint-every', 1),
  };
}

/** A model on the settings, with placeholder data fields for checks that run before the data is read. */
export function draftModel(s: RunSettings): ModelConfig {
  return { ...s.model, inputSize: 32, channels: 3, classes: 10 };
}

/** The data a run reads, as the history and the job see it, and what opening it found. */
export interface RunData extends OpenedDataset {
  source: DataSource;
}

/**
 * Opens --data in a job process (importing an image folder into the cache,
 * with progress) to learn what the model's data-given fields are, before the
 * run is set up. Applies --limit-*.
 */
export async function openRunData(values: Values, io: CommandIo): Promise<RunData> {
  const given = str(values['data']);
  if (given === undefined) throw new InputError('--data is required (a dataset folder, an IDX folder or synthetic)', 'data');
  const source: DataSource = {
    path: given.startsWith('synthetic') ? given : resolve(given),
    // Image folders are imported at this size and channels; other sources are resampled to them per batch.
    settings: importSettingsArgs(values),
    limitTrain: optionalIntArg(str(values['limit-train']), 'limit-train'),
    limitVal: optionalIntArg(str(values['limit-val']), 'limit-val'),
  };
  const importing = progressPrinter(io);
  const opened = await runOneShot(
    {
      kind: 'open-data',
      data: { source: source.path, limitTrain: source.limitTrain, limitVal: source.limitVal, import: source.settings },
      cacheDir: datasetCacheDir(),
    },
    { onImportProgress: (_path, p) => importing.show(p) },
  );
  importing.done();
  if (opened.record !== null) io.err(`${renderRecord(opened.record)}\n`);
  else if (source.settings.valSplit !== undefined) io.err(`note: ${given} has its own validation images; --val-split is ignored\n`);
  return { ...opened, source };
}

/**
 * `--queue URL` trains on a queue of `adjoin worker`s instead of this
 * machine; `--checkpoint-limit MB` is how big a checkpoint may be to travel
 * back (default 256). Options that only make sense here are refused with it.
 */
export function queueOption(values: Values): { queue: string; transferLimitBytes: number } | null {
  const queue = str(values['queue']);
  const limit = str(values['checkpoint-limit']);
  if (queue === undefined) {
    if (limit !== undefined) throw new InputError('--checkpoint-limit applies to runs on a queue (--queue)', 'checkpoint-limit');
    return null;
  }
  if (values['workers'] !== undefined) throw new InputError('--workers applies to runs on this machine; on a queue each worker uses its own cores', 'workers');
  const mb = limit === undefined ? 256 : Number(limit);
  if (!Number.isFinite(mb) || mb < 0 || mb > 100_000)
    throw new InputError(`--checkpoint-limit must be a number of megabytes from 0 to 100000, got '${limit}'`, 'checkpoint-limit');
  return { queue, transferLimitBytes: Math.round(mb * 1024 * 1024) };
}

/**
 * `--workers N`: engines training side by side on the CPU (data-parallel);
 * by default one per core. The result is the same training either way.
 */
export function workersOption(values: { workers?: string | boolean | undefined }): { workers?: number } {
  const n = optionalIntArg(str(values.workers), 'workers');
  if (n === null) return {};
  if (n < 1 || n > 64) throw new InputError(`--workers must be from 1 to 64, got ${n}`, 'workers');
  return { workers: n };
}
