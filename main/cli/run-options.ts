import { dirname, join, resolve } from 'node:path';
import { InputError } from '../../shared/errors.js';
import type { EngineEvent } from '../../shared/events.js';
import type { SearchRecord } from '../../shared/history.js';
import { ARCHITECTURES, STEMS, type ModelConfig } from '../../shared/model/config.js';
import { costReport } from '../../shared/model/cost.js';
import { buildGraph } from '../../shared/model/graph.js';
import { LAMBDA_KINDS, type LrSchedule } from '../../shared/schedules.js';
import {
  AUGMENTATIONS,
  DEFAULT_LOSS,
  RECIPES,
  recipe,
  type AdjoinedLossConfig,
  type Augmentation,
  type OptimizerConfig,
  type TrainConfig,
} from '../../shared/train-config.js';
import { datasetCacheDir } from '../app-paths.js';
import { openTrainingData } from '../engine/data/open.js';
import type { TrainingData } from '../engine/data/types.js';
import type { StopRequest } from '../engine/loop.js';
import { beginRun, describeDataset } from '../jobs/begin-run.js';
import { openStore } from '../store/open.js';
import { choiceArg, intArg, numberArg, optionalIntArg, type Options } from './args.js';
import type { CommandIo } from './command.js';
import { importSettingsArgs, progressPrinter } from './data-command.js';
import { renderRecord } from './dataset-format.js';
import { cliHistoryWriter, NOT_RECORDED_EXIT, recordWaitMs, settleRecording } from './history-writes.js';
import { ProgressPrinter } from './progress.js';
import { dbFile } from './store-args.js';

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
} as const satisfies Options;

export const RUN_USAGE = `[--size N] [--channels 1|3] [--val-split F] [--limit-train N] [--limit-val N] [--out DIR] [--resume] [--json] [--db FILE]
             [--recipe cifar|imagenet] [--lr X] [--lambda quadratic|linear|one-minus-cos|exp-minus-one] [--c X] [--small-ce β]
             [--augment none|cifar|imagenet] [--seed N] [--compress-first-stage] [--checkpoint-every N] [--workers N]`;

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
  const base = recipe(choiceArg(str(values['recipe']), 'recipe', RECIPES, 'cifar'));
  return {
    model: {
      arch: choiceArg(str(values['arch']), 'arch', ARCHITECTURES, 'resnet18'),
      stem: choiceArg(str(values['stem']), 'stem', STEMS, 'cifar'),
      width: numberArg(str(values['width']), 'width', 1),
      compressFirstStage: values['compress-first-stage'] === true,
    },
    epochs: intArg(str(values['epochs']), 'epochs', 10),
    batchSize: intArg(str(values['batch']), 'batch', 64),
    optimizer: { ...base.optimizer, lr: numberArg(str(values['lr']), 'lr', base.optimizer.lr) },
    schedule: base.schedule,
    loss: {
      lambda: choiceArg(str(values['lambda']), 'lambda', LAMBDA_KINDS, DEFAULT_LOSS.lambda),
      c: numberArg(str(values['c']), 'c', DEFAULT_LOSS.c),
      smallCe: numberArg(str(values['small-ce']), 'small-ce', DEFAULT_LOSS.smallCe),
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

export interface RunData {
  data: TrainingData;
  /** The model's data-given fields: the import's (or --size/--channels), else the data's own. */
  input: Pick<ModelConfig, 'inputSize' | 'channels' | 'classes'>;
  /** How the images were chosen, as the history records it. */
  split: Record<string, unknown>;
}

/** Opens --data (importing an image folder into the cache, with progress) and applies --limit-*. */
export async function openRunData(values: Values, io: CommandIo): Promise<RunData> {
  const source = str(values['data']);
  if (source === undefined) throw new InputError('--data is required (a dataset folder, an IDX folder or synthetic)', 'data');
  const limitTrain = optionalIntArg(str(values['limit-train']), 'limit-train');
  const limitVal = optionalIntArg(str(values['limit-val']), 'limit-val');
  // Image folders are imported at this size and channels; other sources are resampled to them per batch.
  const settings = importSettingsArgs(values);
  const importing = progressPrinter(io);
  const { data, record } = await openTrainingData(source, {
    limitTrain,
    limitVal,
    cacheDir: datasetCacheDir(),
    settings,
    onProgress: importing.show,
  });
  importing.done();
  if (record !== null) io.err(`${renderRecord(record)}\n`);
  else if (settings.valSplit !== undefined) io.err(`note: ${source} has its own validation images; --val-split is ignored\n`);
  if (data.height !== data.width) {
    throw new InputError(`${source} has ${data.height}×${data.width} images; training needs square images`, 'data');
  }
  return {
    data,
    input: {
      inputSize: settings.size ?? data.height,
      channels: settings.channels ?? (data.channels === 1 ? 1 : 3),
      classes: data.classes.length,
    },
    split: { limitTrain, limitVal, settings },
  };
}

/** Where the engine reports to and when it should stop: the history first, then the screen. */
export interface RecordedRun {
  runId: number;
  outDir: string;
  emit(event: EngineEvent): void;
  stopRequested(): StopRequest | null;
}

/**
 * Records a run in the history (--db) around `body`: the row is created only
 * once everything is checked and the data is read, so bad input leaves no
 * run behind; every event is stored before it is printed; Ctrl-C asks the
 * engine to checkpoint and stop.
 */
export async function withRecordedRun(
  values: Values,
  io: CommandIo,
  run: { config: TrainConfig; search?: SearchRecord; data: RunData },
  body: (r: RecordedRun) => Promise<'finished' | 'cancelled' | 'failed'>,
): Promise<number> {
  // Building the graph checks what validation cannot (a width or α that empties a layer).
  costReport(buildGraph(run.config.model), run.config.mode === 'standard' ? null : run.config.alpha);
  const resume = values['resume'] === true;
  const out = str(values['out']);
  if (resume && out === undefined) throw new InputError('--resume needs --out <the run folder to resume>', 'out');
  const store = openStore(dbFile(str(values['db'])));
  const writer = cliHistoryWriter(store, io);
  const begun = beginRun(
    store,
    {
      config: run.config,
      search: run.search ?? null,
      dataset: describeDataset(str(values['data'])!, run.data.data, run.data.split),
      outDir: out === undefined ? null : resolve(out),
      runsDir: join(dirname(store.file), 'runs'),
      resume,
    },
    { writer },
  );
  io.err(`run ${begun.runId}: recording in ${store.file}; files in ${begun.outDir}\n`);
  const json = values['json'] === true;
  const printer = new ProgressPrinter(io.err, io.errIsTty);
  let stop: StopRequest | null = null;
  io.onInterrupt(() => {
    stop = 'checkpoint-and-stop';
  });
  let status: 'finished' | 'cancelled' | 'failed';
  let notRecorded: string | null = null;
  try {
    status = await body({
      runId: begun.runId,
      outDir: begun.outDir,
      emit: (e) => {
        begun.recorder.emit(e);
        if (json) io.out(JSON.stringify(e));
        else printer.handle(e);
      },
      stopRequested: () => stop,
    });
  } catch (e) {
    begun.recorder.close(e);
    throw e;
  } finally {
    begun.recorder.close();
    writer.close();
    notRecorded = await settleRecording(writer, store, io, recordWaitMs());
    store.close();
  }
  if (notRecorded !== null) {
    io.err(
      `adjoin: error: run ${begun.runId} ${status}, but the history ${store.file} would not take its outcome: ${notRecorded}; its files are in ${begun.outDir}\n`,
    );
    return NOT_RECORDED_EXIT;
  }
  return status === 'finished' ? 0 : status === 'cancelled' ? 130 : 1;
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
