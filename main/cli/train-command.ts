import { join, resolve } from 'node:path';
import { InputError } from '../../shared/errors.js';
import { ARCHITECTURES, STEMS, validateGlobalAlpha } from '../../shared/model/config.js';
import { LAMBDA_KINDS } from '../../shared/schedules.js';
import { AUGMENTATIONS, DEFAULT_LOSS, RECIPES, TRAIN_MODES, recipe, validateTrainConfig, type TrainConfig } from '../../shared/train-config.js';
import { loadTrainingData } from '../engine/data/load.js';
import { train, type StopRequest } from '../engine/train.js';
import { choiceArg, intArg, numberArg, optionalIntArg, parse } from './args.js';
import type { Command, CommandIo } from './command.js';
import { ProgressPrinter } from './progress.js';

const TRAIN_USAGE = `adjoin train --data <dir|idx folder|synthetic> --arch resnet18 --stem cifar --width 0.25 --mode an --alpha 4 --epochs 10 --batch 64
             [--limit-train N] [--limit-val N] [--out DIR] [--resume] [--json]
             [--recipe cifar|imagenet] [--lr X] [--lambda quadratic|linear|one-minus-cos|exp-minus-one] [--c X] [--small-ce β]
             [--augment none|cifar|imagenet] [--seed N] [--compress-first-stage] [--checkpoint-every N]
  Trains a standard or adjoined network; saves weights, the extracted small network and a TF.js model under --out.`;

function timestamp(): string {
  return new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
}

export async function trainCommand(argv: string[], io: CommandIo): Promise<number> {
  const { values } = parse(argv, {
    data: { type: 'string' },
    arch: { type: 'string' },
    stem: { type: 'string' },
    width: { type: 'string' },
    mode: { type: 'string' },
    alpha: { type: 'string' },
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
    'compress-first-stage': { type: 'boolean' },
    'checkpoint-every': { type: 'string' },
  });
  if (values.data === undefined) throw new InputError('--data is required (a dataset folder, an IDX folder or synthetic)', 'data');
  const mode = choiceArg(values.mode, 'mode', TRAIN_MODES, 'an');
  const recipeName = choiceArg(values.recipe, 'recipe', RECIPES, 'cifar');
  const base = recipe(recipeName);
  const alpha = mode === 'an' ? validateGlobalAlpha(intArg(values.alpha, 'alpha', 4)) : null;
  if (mode === 'standard' && values.alpha !== undefined) {
    throw new InputError('--alpha applies to --mode an only', 'alpha');
  }
  const resume = values.resume === true;
  if (resume && values.out === undefined) throw new InputError('--resume needs --out <the run folder to resume>', 'out');
  const outDir = resolve(values.out ?? join('adjoin-runs', `${timestamp()}-${values.arch ?? 'resnet18'}-${mode}`));

  // Everything is checked before the data is read and before anything is written.
  const partial = {
    arch: choiceArg(values.arch, 'arch', ARCHITECTURES, 'resnet18'),
    stem: choiceArg(values.stem, 'stem', STEMS, 'cifar'),
    width: numberArg(values.width, 'width', 1),
    compressFirstStage: values['compress-first-stage'] ?? false,
  };
  const lr = numberArg(values.lr, 'lr', base.optimizer.lr);
  const loss = {
    lambda: choiceArg(values.lambda, 'lambda', LAMBDA_KINDS, DEFAULT_LOSS.lambda),
    c: numberArg(values.c, 'c', DEFAULT_LOSS.c),
    smallCe: numberArg(values['small-ce'], 'small-ce', DEFAULT_LOSS.smallCe),
  };
  const augmentation = choiceArg(values.augment, 'augment', AUGMENTATIONS, base.augmentation);
  const epochs = intArg(values.epochs, 'epochs', 10);
  const batchSize = intArg(values.batch, 'batch', 64);
  const seed = intArg(values.seed, 'seed', 0);
  const checkpointEvery = intArg(values['checkpoint-every'], 'checkpoint-every', 1);
  const limitTrain = optionalIntArg(values['limit-train'], 'limit-train');
  const limitVal = optionalIntArg(values['limit-val'], 'limit-val');
  const probe: TrainConfig = {
    model: { ...partial, inputSize: 32, channels: 3, classes: 10 },
    mode,
    alpha,
    epochs,
    batchSize,
    optimizer: { ...base.optimizer, lr },
    schedule: base.schedule,
    loss,
    augmentation,
    seed,
    checkpointEvery,
  };
  validateTrainConfig(probe);

  const data = loadTrainingData(values.data, { limitTrain, limitVal });
  if (data.height !== data.width) {
    throw new InputError(`${values.data} has ${data.height}×${data.width} images; training needs square images`, 'data');
  }
  const config: TrainConfig = {
    ...probe,
    model: { ...probe.model, inputSize: data.height, channels: data.channels === 1 ? 1 : 3, classes: data.classes.length },
  };

  const json = values.json === true;
  const printer = new ProgressPrinter(io.err, io.errIsTty);
  let stop: StopRequest | null = null;
  io.onInterrupt(() => {
    stop = 'checkpoint-and-stop';
  });
  const outcome = await train({
    config,
    data,
    outDir,
    resume,
    emit: (e) => (json ? io.out(JSON.stringify(e)) : printer.handle(e)),
    stopRequested: () => stop,
  });
  switch (outcome.status) {
    case 'finished':
      return 0;
    case 'cancelled':
      return 130;
    case 'failed':
      return 1;
  }
}

export const trainCmd: Command = { name: 'train', usage: TRAIN_USAGE, run: trainCommand };
