import type * as tf from '@tensorflow/tfjs';
import type { BackendInfo } from '../../../shared/backend.js';
import type { Decoder } from '../../../shared/decode.js';
import type { DataInfo, EngineEvent, StepProgress } from '../../../shared/events.js';
import type { CheckpointState } from '../checkpoint.js';
import type { TrainingData } from '../data/types.js';
import type { EpochTotals, LoopPosition, StepTiming } from '../loop.js';
import type { Optimizer } from '../optim.js';
import type { NetworkParams } from '../params.js';
import type { ReplicaTask } from '../parallel/protocol.js';
import type { Replicas } from '../parallel/replicas.js';
import type { Rng } from '../rng.js';

/** The generators a run draws from, forked from its seed in a fixed order so a resumed run draws the same numbers. */
export interface RunStreams {
  /** Initial weights. */
  init: Rng;
  /** What a task forks further streams from (after the session's own). */
  root: Rng;
}

/** What a task is told when its run starts. */
export interface StartContext {
  time: number;
  backend: BackendInfo;
  data: DataInfo;
  resumedFrom: { epoch: number; step: number } | null;
}

/** Where the loop stands and who trains beside the leader, for a step or an epoch's end. */
export interface LoopContext {
  pos: LoopPosition;
  replicas: Replicas | null;
}

/** What a task keeps in the checkpoint besides weights, optimizer state and position. */
export interface TaskCheckpoint {
  history: unknown[];
  extra?: unknown;
  extraTensors?: ReadonlyMap<string, tf.Tensor>;
}

/**
 * One kind of run — training in one of its modes, or a DAN search — as the
 * run session drives it: the session owns the backend, resume, generators,
 * replicas, checkpoints, the epoch loop, outcomes and disposal; the task says
 * what a step, an epoch's end and the finish are. `R` is a step's result;
 * `Result` what a finished run hands back.
 */
export interface RunTask<R, Result, E extends EngineEvent = EngineEvent> {
  readonly epochs: number;
  readonly batchSize: number;
  readonly checkpointEvery: number;
  readonly stepsPerEpoch: number;
  readonly totalSteps: number;
  readonly trainCount: number;
  /** The weights the checkpoint saves and the optimizer that moves them. */
  readonly params: NetworkParams;
  readonly optimizer: Optimizer;
  /** What data-parallel replicas build, the variables they mirror and the optimizers whose state they copy. */
  readonly replica: { task: ReplicaTask; variables: ReadonlyMap<string, tf.Variable>; optimizers: readonly Optimizer[]; imageSize: number };
  /** The data as the run reports it (normalisation included). */
  dataInfo(): DataInfo;
  /** Continues from a checkpoint (weights and the main optimizer are restored by the session). */
  restore(checkpoint: CheckpointState): void;
  started(ctx: StartContext): E;
  step(indices: Int32Array, progress: number, ctx: LoopContext): Promise<R>;
  accumulate(totals: EpochTotals, result: R, images: number): void;
  stepEvent(result: R, timing: StepTiming, pos: LoopPosition, time: number): E;
  /** Evaluates the epoch whose steps are done (`pos.epoch` is still its index) and describes it. */
  endEpoch(trainSeconds: number, ctx: LoopContext, time: number): Promise<E>;
  checkpoint(): TaskCheckpoint;
  /** After the last epoch: writes outputs into `outDir` (null: none), returns the events to emit and the result. */
  finish(ctx: LoopContext, outDir: string | null, now: () => number): Promise<{ events: E[]; result: Result }>;
  dispose(): void;
}

/** How to build a task from its config; the config of a resumed run comes from its checkpoint, decoded. */
export interface TaskDefinition<C extends { seed: number }, R, Result, E extends EngineEvent = EngineEvent> {
  /** Reads the config a checkpoint was saved with. */
  decodeConfig: Decoder<C>;
  /**
   * The checkpoint's config with what the given config says about where
   * files are now (a kd teacher's network): a run resumed on another
   * machine finds them there. Training state is never taken from `given`.
   */
  relocate?: (saved: C, given: C) => C;
  prepare(config: C, data: TrainingData, streams: RunStreams): RunTask<R, Result, E>;
}

/** Where a step stands and how fast the run goes: what every step event (training's and a search's) reports alike. */
export function stepPlace(
  task: Pick<RunTask<unknown, unknown>, 'stepsPerEpoch' | 'totalSteps'>,
  timing: StepTiming,
  pos: LoopPosition,
  time: number,
): Pick<StepProgress, 'time' | 'epoch' | 'step' | 'stepsPerEpoch' | 'globalStep' | 'totalSteps' | 'progress' | 'imagesPerSecond' | 'etaSeconds'> {
  return {
    time,
    epoch: pos.epoch + 1,
    step: pos.step,
    stepsPerEpoch: task.stepsPerEpoch,
    globalStep: pos.globalStep,
    totalSteps: task.totalSteps,
    progress: pos.globalStep / task.totalSteps,
    imagesPerSecond: timing.imagesPerSecond,
    etaSeconds: timing.etaSeconds,
  };
}
