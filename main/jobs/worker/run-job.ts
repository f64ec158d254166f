import { join } from 'node:path';
import { foundNetworkConfig } from '../../../shared/dan.js';
import type { DatasetRecord, ImportProgress } from '../../../shared/dataset.js';
import { InputError } from '../../../shared/errors.js';
import type { EngineEvent } from '../../../shared/events.js';
import type { TrainConfig } from '../../../shared/train-config.js';
import type { TrainingData } from '../../engine/data/types.js';
import type { StopRequest } from '../../../shared/stop.js';
import type { DatasetInput } from '../../../shared/history.js';
import { describeDataset } from './dataset-row.js';
import type { DataRequest, JobSpec, OpenedDataset } from '../job-spec.js';
import type { JobOutcome } from '../protocol.js';

export interface JobContext {
  emit(event: EngineEvent): void;
  log(level: 'info' | 'warn', message: string): void;
  /** The data a training job opened, for the history. */
  dataset(dataset: DatasetInput): void;
  importProgress(path: string, progress: ImportProgress): void;
  stopRequested(): StopRequest | null;
  /** Runs before every engine step (test hooks). */
  beforeStep?: (globalStep: number) => void | Promise<void>;
}

/**
 * The data must have the model's classes. Size and channels may differ: the
 * batch builder resamples images to the model's input and converts gray and
 * colour, as the CLI does with --size and --channels.
 */
function checkFit(model: TrainConfig['model'], data: TrainingData): void {
  if (model.classes !== data.classes.length) {
    throw new InputError(`the model has ${model.classes} classes but ${data.name} has ${data.classes.length}`, 'classes');
  }
}

/**
 * A queue worker reads the dataset at the path the submitter named; it must
 * hold the same images (a shared folder, or an identical copy), else the run
 * would train on other data than the history says.
 */
function checkSameData(dataset: DatasetInput, expected: string): void {
  if (dataset.contentKey === expected) return;
  const s = dataset.summary;
  const counts =
    typeof s['trainCount'] === 'number' && typeof s['valCount'] === 'number' ? `: ${s['trainCount']} training and ${s['valCount']} validation images` : '';
  throw new InputError(
    `the dataset at ${dataset.path} on this machine is not the one the run was submitted with ` +
      `(content key ${dataset.contentKey.slice(0, 12)}…, the submitter's ${expected.slice(0, 12)}…${counts}); ` +
      `make the copies identical or point the worker at the same shared folder`,
    'data',
  );
}

/** Stops an import when the job is asked to stop. */
function abortOnStop(ctx: JobContext): AbortSignal {
  const controller = new AbortController();
  const timer = setInterval(() => {
    if (ctx.stopRequested() !== null) controller.abort(new InputError('the import was cancelled', 'data'));
  }, 100);
  timer.unref();
  controller.signal.addEventListener('abort', () => clearInterval(timer));
  return controller.signal;
}

/**
 * Runs one job on this thread. The engine's heavy modules load only for the
 * jobs that need them (a scan loads no TensorFlow.js). Engine failures come
 * back as an outcome; bad input is thrown as InputError.
 */
export async function runJob(spec: JobSpec, ctx: JobContext): Promise<JobOutcome> {
  switch (spec.kind) {
    case 'backend': {
      const { initBackend } = await import('../../engine/backend.js');
      return { status: 'finished', value: await initBackend() };
    }
    case 'scan': {
      const { scanDataset } = await import('../../engine/data/scan.js');
      return { status: 'finished', value: await scanDataset(spec.path, spec.options ?? {}) };
    }
    case 'import': {
      const { importImageFolder } = await import('../../engine/data/import-folder.js');
      const signal = abortOnStop(ctx);
      const { record } = await importImageFolder(spec.path, {
        cacheDir: spec.cacheDir,
        settings: spec.settings,
        ...(spec.followLinks === true ? { followDirectoryLinks: true } : {}),
        onProgress: (p) => ctx.importProgress(spec.path, p),
        signal,
      });
      return { status: 'finished', value: record };
    }
    case 'open-data':
      return { status: 'finished', value: await openData(spec.data, spec.cacheDir, ctx) };
    case 'export': {
      const { exportRun } = await import('./export-run.js');
      const { kind: _kind, ...job } = spec;
      return { status: 'finished', value: await exportRun(job, { onProgress: (message) => ctx.log('info', message) }) };
    }
    case 'latency': {
      const { readExportFolder, timeExportFolders } = await import('../../export/time-exports.js');
      const folders = spec.dirs.map(readExportFolder);
      return { status: 'finished', value: await timeExportFolders(folders, { runs: spec.runs, warmup: spec.warmup }, (message) => ctx.log('info', message)) };
    }
    case 'train':
    case 'search':
      return runTraining(spec, ctx);
  }
}

/** Opens a job's data (importing an image folder into the cache, with progress), limited as asked. */
async function open(request: DataRequest, cacheDir: string, ctx: JobContext): Promise<{ data: TrainingData; record: DatasetRecord | null }> {
  const { openTrainingData } = await import('../../engine/data/open.js');
  return openTrainingData(request.source, {
    cacheDir,
    limitTrain: request.limitTrain,
    limitVal: request.limitVal,
    ...(request.import === null ? {} : { settings: request.import }),
    onProgress: (p) => ctx.importProgress(request.source, p),
    signal: abortOnStop(ctx),
  });
}

function describe(request: DataRequest, data: TrainingData): DatasetInput {
  return describeDataset(request.source, data, { limitTrain: request.limitTrain, limitVal: request.limitVal, settings: request.import ?? {} });
}

/**
 * What a command needs to know of its data before it sets up a run: the
 * model fields the data gives (image folders are imported at the requested
 * size and channels; other sources are resampled to them per batch).
 */
async function openData(request: DataRequest, cacheDir: string, ctx: JobContext): Promise<OpenedDataset> {
  const { data, record } = await open(request, cacheDir, ctx);
  if (data.height !== data.width) {
    throw new InputError(`${request.source} has ${data.height}×${data.width} images; training needs square images`, 'data');
  }
  return {
    input: {
      inputSize: request.import?.size ?? data.height,
      channels: request.import?.channels ?? (data.channels === 1 ? 1 : 3),
      classes: data.classes.length,
    },
    height: data.height,
    width: data.width,
    dataset: describe(request, data),
    record,
  };
}

async function runTraining(spec: Extract<JobSpec, { kind: 'train' | 'search' }>, ctx: JobContext): Promise<JobOutcome> {
  const { train } = await import('../../engine/train.js');
  const { data } = await open(spec.data, spec.cacheDir, ctx);
  checkFit(spec.config.model, data);
  const dataset = describe(spec.data, data);
  if (spec.expectedContentKey !== undefined) checkSameData(dataset, spec.expectedContentKey);
  ctx.dataset(dataset);
  const common = { data, emit: ctx.emit, stopRequested: ctx.stopRequested, ...(ctx.beforeStep === undefined ? {} : { beforeStep: ctx.beforeStep }) };
  if (spec.kind === 'train') {
    const outcome = await train({ ...common, config: spec.config, outDir: spec.outDir, resume: spec.resume });
    return outcome.status === 'finished' ? { status: 'finished' } : outcome;
  }
  const { search } = await import('../../engine/dan/search.js');
  const found = await search({ ...common, config: spec.config, outDir: join(spec.outDir, 'search'), resume: spec.resume });
  if (found.status !== 'finished') return found;
  if (spec.thenTrain === null) return { status: 'finished' };
  const trainConfig = foundNetworkConfig(spec.config, found.alphas, spec.thenTrain);
  const outcome = await train({ ...common, config: trainConfig, outDir: join(spec.outDir, 'train') });
  return outcome.status === 'finished' ? { status: 'finished' } : outcome;
}
