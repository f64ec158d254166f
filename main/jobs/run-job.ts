import { join } from 'node:path';
import { foundNetworkConfig } from '../../shared/dan.js';
import { InputError } from '../../shared/errors.js';
import type { EngineEvent } from '../../shared/events.js';
import type { TrainConfig } from '../../shared/train-config.js';
import { search } from '../engine/dan/search.js';
import { openTrainingData } from '../engine/data/open.js';
import type { TrainingData } from '../engine/data/types.js';
import type { StopRequest } from '../engine/loop.js';
import { train } from '../engine/train.js';
import type { JobSpec } from './job-spec.js';
import type { JobOutcome } from './protocol.js';

export interface JobContext {
  emit(event: EngineEvent): void;
  log(level: 'info' | 'warn', message: string): void;
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

/**
 * Runs one job on this thread: opens (or imports) its data, then trains, or
 * searches and optionally trains what it found. Engine failures come back as
 * an outcome; bad input is thrown as InputError.
 */
export async function runJob(spec: JobSpec, ctx: JobContext): Promise<JobOutcome> {
  const { data } = await openTrainingData(spec.data.source, {
    cacheDir: spec.cacheDir,
    limitTrain: spec.data.limitTrain,
    limitVal: spec.data.limitVal,
    ...(spec.data.import === null ? {} : { settings: spec.data.import }),
    onProgress: (p) => ctx.log('info', `importing ${spec.data.source}: ${JSON.stringify(p)}`),
  });
  checkFit(spec.config.model, data);
  const common = { data, emit: ctx.emit, stopRequested: ctx.stopRequested };
  const beforeStep = ctx.beforeStep === undefined ? undefined : (step: number): void => ctx.beforeStep!(step);
  if (spec.kind === 'train') {
    const outcome = await train({ ...common, config: spec.config, outDir: spec.outDir, resume: spec.resume, ...(beforeStep ? { beforeStep } : {}) });
    return outcome.status === 'finished' ? { status: 'finished' } : outcome;
  }
  const found = await search({ ...common, config: spec.config, outDir: join(spec.outDir, 'search'), resume: spec.resume });
  if (found.status !== 'finished') return found;
  if (spec.thenTrain === null) return { status: 'finished' };
  const trainConfig = foundNetworkConfig(spec.config, found.alphas, spec.thenTrain);
  const outcome = await train({ ...common, config: trainConfig, outDir: join(spec.outDir, 'train') });
  return outcome.status === 'finished' ? { status: 'finished' } : outcome;
}
