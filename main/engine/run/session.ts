import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { serializeError, type SerializedError } from '../../../shared/errors.js';
import type { CancelledEvent, CheckpointEvent, EngineEvent, FailedEvent, FailureReason } from '../../../shared/events.js';
import type { StopRequest } from '../../../shared/stop.js';
import { initBackend } from '../backend.js';
import { CHECKPOINT_FILE, checkpointToResume, saveCheckpoint } from '../checkpoint.js';
import type { TrainingData } from '../data/types.js';
import { freshPosition, runEpochs, type LoopPosition } from '../loop.js';
import type { NetworkParams } from '../params.js';
import { startReplicas, withEngines } from '../parallel/start.js';
import { Rng } from '../rng.js';
import { TrainingError } from '../step.js';
import type { Replicas } from '../parallel/replicas.js';
import type { RunTask, TaskDefinition } from './task.js';

/** The events the session itself emits, whatever the task. */
export type SessionEvent = CheckpointEvent | CancelledEvent | FailedEvent;

export interface SessionOptions<E extends EngineEvent = EngineEvent> {
  data: TrainingData;
  emit: (event: E | SessionEvent) => void;
  /** Polled between steps; a non-null answer stops the run within one step. */
  stopRequested?: (() => StopRequest | null) | undefined;
  /** Checkpoints and outputs go here; null keeps everything in memory (tests). */
  outDir?: string | null | undefined;
  /** Continue from `outDir/checkpoint.ckpt`. */
  resume?: boolean | undefined;
  /** Minimum milliseconds between two step events. */
  stepEventInterval?: number | undefined;
  /** Engines training side by side (data-parallel); default: one per core on wasm and cpu. */
  workers?: number | undefined;
  /** Test hook: called before each step with the global step index and the run's weights. */
  beforeStep?: ((globalStep: number, run: { params: NetworkParams }) => void | Promise<void>) | undefined;
}

/** How a run ended: `finished` carries what the task hands back. */
export type RunOutcome<Result> =
  ({ status: 'finished' } & Result) | { status: 'cancelled'; checkpoint: string | null } | { status: 'failed'; reason: FailureReason; message: string };

/** The failed event's reason and error, with where in the run it happened. */
export function describeFailure(e: unknown, pos: LoopPosition): { reason: FailureReason; error: SerializedError } {
  const reason: FailureReason = e instanceof TrainingError ? e.reason : 'error';
  const where = `epoch ${pos.epoch + 1}, step ${pos.step + 1}`;
  const error = serializeError(e);
  error.message = e instanceof TrainingError ? `${e.message} (${where}); the run was stopped` : `${error.message} (${where})`;
  return { reason, error };
}

/** A run ready to start: its task built from the config (a resumed run's from its checkpoint) and where it stands. */
interface Prepared<R, Result, E extends EngineEvent> {
  config: { seed: number };
  task: RunTask<R, Result, E>;
  pos: LoopPosition;
  resumedFrom: { epoch: number; step: number } | null;
}

/**
 * Picks up the checkpoint to resume from (its config, decoded, replaces the
 * given one), forks the generators in a fixed order and builds the task.
 */
function prepare<C extends { seed: number }, R, Result, E extends EngineEvent>(
  definition: TaskDefinition<C, R, Result, E>,
  given: C,
  o: SessionOptions<E>,
): Prepared<R, Result, E> {
  const checkpoint = checkpointToResume(o.outDir ?? null, o.resume === true);
  const saved = checkpoint === null ? null : definition.decodeConfig(checkpoint.config, `${checkpoint.path}: config`);
  const config = saved === null ? given : (definition.relocate?.(saved, given) ?? saved);
  const root = new Rng(config.seed);
  const init = root.fork();
  const orderRng = root.fork();
  const augment = root.fork();
  const task = definition.prepare(config, o.data, { init, root });
  if (checkpoint === null) return { config, task, pos: freshPosition(orderRng.state(), augment), resumedFrom: null };
  try {
    checkpoint.restoreInto(task.params, task.optimizer);
    task.restore(checkpoint);
  } catch (e) {
    task.dispose();
    throw e;
  }
  const pos = { ...checkpoint.position, augment: new Rng(checkpoint.position.augmentState), totals: { ...checkpoint.position.totals } };
  return { config, task, pos, resumedFrom: { epoch: pos.epoch, step: pos.step } };
}

/** Runs the epochs from where the run stands to the end, then finishes; or reports the cancel or the failure. */
async function drive<R, Result, E extends EngineEvent>(
  run: Prepared<R, Result, E>,
  replicas: Replicas | null,
  o: SessionOptions<E>,
): Promise<RunOutcome<Result>> {
  const { task, pos, config } = run;
  const { emit } = o;
  const outDir = o.outDir ?? null;
  const now = (): number => Date.now();
  const ckptPath = outDir === null ? null : join(outDir, CHECKPOINT_FILE);
  const writeCheckpoint = async (): Promise<string | null> => {
    if (ckptPath === null) return null;
    await saveCheckpoint(ckptPath, {
      config,
      params: task.params,
      optimizer: task.optimizer,
      position: { ...pos, augmentState: pos.augment.state() },
      ...task.checkpoint(),
    });
    emit({ type: 'checkpoint', time: now(), epoch: pos.epoch, step: pos.step, path: ckptPath });
    return ckptPath;
  };
  const ctx = { pos, replicas };
  try {
    const loop = await runEpochs<R>({
      epochs: task.epochs,
      stepsPerEpoch: task.stepsPerEpoch,
      batchSize: task.batchSize,
      trainCount: task.trainCount,
      position: pos,
      stepEventInterval: o.stepEventInterval ?? 250,
      stopRequested: o.stopRequested,
      beforeStep: (globalStep) => o.beforeStep?.(globalStep, task),
      checkpointEvery: task.checkpointEvery,
      checkpoint: writeCheckpoint,
      step: (indices, progress) => task.step(indices, progress, ctx),
      accumulate: (totals, r, images) => task.accumulate(totals, r, images),
      reportStep: (r, timing) => emit(task.stepEvent(r, timing, pos, now())),
      endEpoch: async (trainSeconds) => emit(await task.endEpoch(trainSeconds, ctx, now())),
    });
    if (loop.status === 'cancelled') {
      emit({ type: 'cancelled', time: now(), epoch: pos.epoch + 1, step: pos.step, checkpoint: loop.checkpoint });
      return { status: 'cancelled', checkpoint: loop.checkpoint };
    }
    const { events, result } = await task.finish(ctx, outDir, now);
    for (const e of events) emit(e);
    return { status: 'finished', ...result };
  } catch (e) {
    const failure = describeFailure(e, pos);
    // The last good checkpoint is left as it was.
    emit({ type: 'failed', time: now(), ...failure, checkpoint: ckptPath !== null && existsSync(ckptPath) ? ckptPath : null });
    return { status: 'failed', reason: failure.reason, message: failure.error.message };
  }
}

/**
 * Drives one run of any task: loads the backend, prepares the task (from
 * its checkpoint when resuming), starts the data-parallel replicas, emits
 * `started`, runs the epochs (checkpointing after each, and when stopped),
 * then finishes, or reports the cancel or the failure, and frees everything.
 * Throws only for bad input found before anything was written.
 */
export async function runSession<C extends { seed: number }, R, Result, E extends EngineEvent>(
  definition: TaskDefinition<C, R, Result, E>,
  given: C,
  o: SessionOptions<NoInfer<E>>,
): Promise<RunOutcome<Result>> {
  const backend = await initBackend();
  const run = prepare(definition, given, o);
  let replicas: Replicas | null = null;
  try {
    if (o.outDir != null) mkdirSync(o.outDir, { recursive: true });
    replicas = await startReplicas(backend, o.workers ?? null, run.task.replica);
    const engines = withEngines(backend, replicas?.count ?? 1);
    o.emit(run.task.started({ time: Date.now(), backend: engines, data: run.task.dataInfo(), resumedFrom: run.resumedFrom }));
    return await drive(run, replicas, o);
  } finally {
    await replicas?.stop();
    run.task.dispose();
  }
}
