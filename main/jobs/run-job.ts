import { join } from 'node:path';
import { foundNetworkConfig } from '../../shared/dan.js';
import type { ImportProgress } from '../../shared/dataset.js';
import { InputError } from '../../shared/errors.js';
import type { EngineEvent } from '../../shared/events.js';
import type { TrainConfig } from '../../shared/train-config.js';
import type { TrainingData } from '../engine/data/types.js';
import type { StopRequest } from '../engine/loop.js';
import type { DatasetInput } from '../store/datasets.js';
import { describeDataset } from './dataset-row.js';
import type { JobSpec } from './job-spec.js';
import type { JobOutcome } from './protocol.js';

export interface JobContext {
  emit(event: EngineEvent): void;
  log(level: 'info' | 'warn', message: string): void;
  /** The data a training job opened, for the history. */
  dataset(dataset: DatasetInput): void;
  importProgress(path: string, progress: ImportProgress): void;
  stopRequested(): StopRequest | null;
  /** Runs before every engine step (test hooks). */
  beforeStep?: (globalStep: number) => void;
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
    case 'scan': {
      const { scanDataset } = await import('../engine/data/scan.js');
      return { status: 'finished', value: await scanDataset(spec.path) };
    }
    case 'import': {
      const { importImageFolder } = await import('../engine/data/import-folder.js');
      const signal = abortOnStop(ctx);
      const { record } = await importImageFolder(spec.path, {
        cacheDir: spec.cacheDir,
        settings: spec.settings,
        onProgress: (p) => ctx.importProgress(spec.path, p),
        signal,
      });
      return { status: 'finished', value: record };
    }
    case 'export': {
      const { exportRun } = await import('./export-run.js');
      const { openStore } = await import('../store/open.js');
      const store = openStore(spec.database, { mustExist: true });
      try {
        const { kind: _kind, database: _database, ...request } = spec;
        return { status: 'finished', value: await exportRun(store, { ...request, onProgress: (message) => ctx.log('info', message) }) };
      } finally {
        store.close();
      }
    }
    case 'train':
    case 'search':
      return runTraining(spec, ctx);
  }
}

async function runTraining(spec: Extract<JobSpec, { kind: 'train' | 'search' }>, ctx: JobContext): Promise<JobOutcome> {
  const { openTrainingData } = await import('../engine/data/open.js');
  const { train } = await import('../engine/train.js');
  const { data } = await openTrainingData(spec.data.source, {
    cacheDir: spec.cacheDir,
    limitTrain: spec.data.limitTrain,
    limitVal: spec.data.limitVal,
    ...(spec.data.import === null ? {} : { settings: spec.data.import }),
    onProgress: (p) => ctx.importProgress(spec.data.source, p),
    signal: abortOnStop(ctx),
  });
  checkFit(spec.config.model, data);
  ctx.dataset(describeDataset(spec.data.source, data, { limitTrain: spec.data.limitTrain, limitVal: spec.data.limitVal, settings: spec.data.import ?? {} }));
  const common = { data, emit: ctx.emit, stopRequested: ctx.stopRequested };
  const beforeStep = ctx.beforeStep === undefined ? {} : { beforeStep: (step: number): void => ctx.beforeStep!(step) };
  if (spec.kind === 'train') {
    const outcome = await train({ ...common, ...beforeStep, config: spec.config, outDir: spec.outDir, resume: spec.resume });
    return outcome.status === 'finished' ? { status: 'finished' } : outcome;
  }
  const { search } = await import('../engine/dan/search.js');
  const found = await search({ ...common, config: spec.config, outDir: join(spec.outDir, 'search'), resume: spec.resume });
  if (found.status !== 'finished') return found;
  if (spec.thenTrain === null) return { status: 'finished' };
  const trainConfig = foundNetworkConfig(spec.config, found.alphas, spec.thenTrain);
  const outcome = await train({ ...common, ...beforeStep, config: trainConfig, outDir: join(spec.outDir, 'train') });
  return outcome.status === 'finished' ? { status: 'finished' } : outcome;
}
