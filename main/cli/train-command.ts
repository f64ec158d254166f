import { dirname, join, resolve } from 'node:path';
import { InputError } from '../../shared/errors.js';
import { ARCHITECTURES, STEMS, validateGlobalAlpha } from '../../shared/model/config.js';
import { costReport } from '../../shared/model/cost.js';
import { buildGraph } from '../../shared/model/graph.js';
import { LAMBDA_KINDS } from '../../shared/schedules.js';
import { AUGMENTATIONS, DEFAULT_LOSS, RECIPES, TRAIN_MODES, recipe, validateTrainConfig, type TrainConfig } from '../../shared/train-config.js';
import { openTrainingData } from '../engine/data/open.js';
import { train, type StopRequest, type TrainOutcome } from '../engine/train.js';
import { beginRun, describeDataset } from '../jobs/begin-run.js';
import { openStore } from '../store/open.js';
import { choiceArg, intArg, numberArg, optionalIntArg, parse } from './args.js';
import type { Command, CommandIo } from './command.js';
import { datasetCacheDir } from '../app-paths.js';
import { importSettingsArgs, progressPrinter } from './data-command.js';
import { renderRecord } from './dataset-format.js';
import { ProgressPrinter } from './progress.js';
import { dbFile } from './store-args.js';

const TRAIN_USAGE = `adjoin train --data <dir|idx folder|synthetic> --arch resnet18 --stem cifar --width 0.25 --mode an --alpha 4 --epochs 10 --batch 64
             [--size N] [--channels 1|3] [--val-split F] [--limit-train N] [--limit-val N] [--out DIR] [--resume] [--json]
             [--recipe cifar|imagenet] [--lr X] [--lambda quadratic|linear|one-minus-cos|exp-minus-one] [--c X] [--small-ce β]
             [--augment none|cifar|imagenet] [--seed N] [--compress-first-stage] [--checkpoint-every N] [--db FILE]
  Trains a standard or adjoined network; saves weights, the extracted small network and a TF.js model under --out
  (default: the run's folder next to the database), and records the run in the history (--db).`;

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
    size: { type: 'string' },
    channels: { type: 'string' },
    'val-split': { type: 'string' },
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
    db: { type: 'string' },
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
  const outDir = values.out === undefined ? null : resolve(values.out);

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
  // Image folders are imported at this size and channels; other sources are resampled to them per batch.
  const dataSettings = importSettingsArgs(values);
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

  const importing = progressPrinter(io);
  const { data, record } = await openTrainingData(values.data, {
    limitTrain,
    limitVal,
    cacheDir: datasetCacheDir(),
    settings: dataSettings,
    onProgress: importing.show,
  });
  importing.done();
  if (record !== null) io.err(`${renderRecord(record)}\n`);
  else if (dataSettings.valSplit !== undefined) io.err(`note: ${values.data} has its own validation images; --val-split is ignored\n`);
  if (data.height !== data.width) {
    throw new InputError(`${values.data} has ${data.height}×${data.width} images; training needs square images`, 'data');
  }
  const config: TrainConfig = {
    ...probe,
    model: {
      ...probe.model,
      inputSize: dataSettings.size ?? data.height,
      channels: dataSettings.channels ?? (data.channels === 1 ? 1 : 3),
      classes: data.classes.length,
    },
  };

  // Recorded only once everything is checked and the data is read: bad input leaves no run behind.
  // Building the graph checks what validateTrainConfig cannot (a width or α that empties a layer).
  costReport(buildGraph(config.model), config.mode === 'an' ? config.alpha : null);
  const store = openStore(dbFile(values.db));
  const split = { limitTrain, limitVal, settings: dataSettings };
  const run = beginRun(
    store,
    { config, dataset: describeDataset(values.data, data, split), outDir, runsDir: join(dirname(store.file), 'runs'), resume },
    { onError: (e, what) => io.err(`adjoin: warning: could not record ${what} of run in ${store.file}: ${e.message}\n`) },
  );
  io.err(`run ${run.runId}: recording in ${store.file}; files in ${run.outDir}\n`);
  const json = values.json === true;
  const printer = new ProgressPrinter(io.err, io.errIsTty);
  let stop: StopRequest | null = null;
  io.onInterrupt(() => {
    stop = 'checkpoint-and-stop';
  });
  let outcome: TrainOutcome;
  try {
    outcome = await train({
      config,
      data,
      outDir: run.outDir,
      resume,
      emit: (e) => {
        // Stored before it is shown: whoever sees an event can find it in the history.
        run.recorder.emit(e);
        if (json) io.out(JSON.stringify(e));
        else printer.handle(e);
      },
      stopRequested: () => stop,
    });
  } catch (e) {
    run.recorder.close(e);
    throw e;
  } finally {
    run.recorder.close();
    store.close();
  }
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
