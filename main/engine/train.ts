import * as tf from '@tensorflow/tfjs';
import { trainConfig as decodeTrainConfig } from '../../shared/config-codecs.js';
import { arr } from '../../shared/decode.js';
import { epochEvent } from '../../shared/event-codecs.js';
import { InputError } from '../../shared/errors.js';
import type { DataInfo, EpochEvent, PathMetrics, RunOutputs, StepEvent, TrainEvent } from '../../shared/events.js';
import { costReport, type CostReport } from '../../shared/model/cost.js';
import { buildGraph, type ModelGraph } from '../../shared/model/graph.js';
import { planSmall, type SmallPlan } from '../../shared/model/plan.js';
import { smallNetworkGraph } from '../../shared/model/small-network.js';
import { lambdaAt, ratesAt, type StepRates } from '../../shared/schedules.js';
import type { TrainConfig } from '../../shared/train-config.js';
import { BatchBuilder, normalizationFor, type Normalization } from './data/batches.js';
import { dataFingerprint } from './data/fingerprint.js';
import { dataShape } from './data/shape.js';
import type { ImageSplit, TrainingData } from './data/types.js';
import { evaluate, type Evaluation } from './evaluate.js';
import { forward } from './forward.js';
import { adjoinedLoss, crossEntropy, distillationLoss } from './loss.js';
import { addTo, type EpochTotals, type LoopPosition, type StepTiming } from './loop.js';
import type { CheckpointState } from './checkpoint.js';
import { Optimizer } from './optim.js';
import { createParams, type NetworkParams } from './params.js';
import { shardedStep } from './parallel/replicas.js';
import type { Rng } from './rng.js';
import { writeRunOutputs } from './run-outputs.js';
import { runSession, type RunOutcome, type SessionOptions } from './run/session.js';
import { stepPlace, type LoopContext, type RunTask, type StartContext, type TaskCheckpoint, type TaskDefinition } from './run/task.js';
import { optimizationStep, type Shard } from './step.js';
import { loadTeacher, type Teacher } from './teacher.js';

export { TrainingError } from './step.js';
export { CHECKPOINT_FILE } from './checkpoint.js';

export type TrainOptions = SessionOptions<TrainEvent> & { config: TrainConfig };

/** What a finished training run hands back. */
export interface TrainResult {
  val: Validation;
  outputs: RunOutputs | null;
}

export type TrainOutcome = RunOutcome<TrainResult>;

/** Validation figures by network: null where the run has no such network. */
export type Validation = { full: PathMetrics | null; small: PathMetrics | null };

/** What a training step needs: a replica builds only this, without the data. */
export interface StepSetup {
  config: TrainConfig;
  /** The network trained: the full (adjoined) one, or for small and kd runs the small architecture alone. */
  graph: ModelGraph;
  /** The adjoined small path (an runs); null otherwise. */
  plan: SmallPlan | null;
  /** The trained network is the small one (small and kd runs): its figures are reported as the small network's. */
  smallOnly: boolean;
  /** A kd run's teacher, in inference mode. */
  teacher: Teacher | null;
  params: NetworkParams;
  optimizer: Optimizer;
}

/** Everything a run needs, built once. */
export interface TrainingSetup extends StepSetup {
  /** Full network and small network of α, whichever of them is trained. */
  cost: CostReport;
  norm: Normalization;
  batches: BatchBuilder;
  train: ImageSplit;
  val: ImageSplit;
  stepsPerEpoch: number;
  totalSteps: number;
}

export function dataInfo(data: TrainingData, norm: Normalization, fingerprint = dataFingerprint(data)): DataInfo {
  return {
    name: data.name,
    source: data.source,
    ...dataShape(data),
    mean: norm.mean,
    std: norm.std,
    fingerprint,
  };
}

/**
 * The network a run trains, its optimizer and its teacher: all a training
 * step needs (a data-parallel replica builds only this). `full` is the
 * run's full graph when the caller has built it already.
 */
export function stepSetupFor(config: TrainConfig, initRng: Rng, teacher: Teacher | null, full: ModelGraph = buildGraph(config.model)): StepSetup {
  const base = { config, teacher, optimizer: new Optimizer(config.optimizer) };
  switch (config.mode) {
    case 'standard':
      return { ...base, graph: full, plan: null, smallOnly: false, params: createParams(full, null, initRng) };
    case 'an': {
      const plan = planSmall(full, config.alpha);
      return { ...base, graph: full, plan, smallOnly: false, params: createParams(full, plan, initRng) };
    }
    case 'small':
    case 'kd': {
      // small and kd train the small architecture of α alone: exactly what an AN run extracts.
      const graph = smallNetworkGraph(full, planSmall(full, config.alpha));
      return { ...base, graph, plan: null, smallOnly: true, params: createParams(graph, null, initRng) };
    }
  }
}

/** Checks the data against the config and builds the run: its graph once, then everything from it. */
export function prepareTraining(config: TrainConfig, data: TrainingData, initRng: Rng): TrainingSetup {
  if (data.classes.length !== config.model.classes) {
    throw new InputError(`the model has ${config.model.classes} classes but the data has ${data.classes.length}`, 'classes');
  }
  if (data.train.count === 0) throw new InputError(`${data.source} has no training images`, 'data');
  if (data.val.count === 0) throw new InputError(`${data.source} has no validation images`, 'data');
  const full = buildGraph(config.model);
  const cost = costReport(full, config.alpha);
  const teacher = config.mode === 'kd' ? loadTeacher(config, data) : null;
  const norm = normalizationFor(config.augmentation, data, config.model.channels);
  const batches = new BatchBuilder(data, config.model.inputSize, config.model.channels, norm, config.augmentation);
  const stepsPerEpoch = Math.ceil(data.train.count / config.batchSize);
  return {
    ...stepSetupFor(config, initRng, teacher, full),
    cost,
    norm,
    batches,
    train: data.train,
    val: data.val,
    stepsPerEpoch,
    totalSteps: stepsPerEpoch * config.epochs,
  };
}

export interface StepResult {
  loss: number;
  ce: number;
  /** The adjoined run's KL(p‖q), or a kd run's distillation KL. */
  kl: number | null;
  smallCe: number | null;
  /** Correct predictions of the batch by the full and the small network (null: the run has no such network). */
  correctFull: number | null;
  correctSmall: number | null;
}

function countCorrect(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar {
  return tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), labels), 'int32'));
}

/** One optimisation step of the run's loss (standard, small, kd or adjoined) on a batch. */
export async function trainStep(
  setup: StepSetup,
  x: tf.Tensor4D,
  y: tf.Tensor1D,
  progress: number,
  rates: StepRates,
  shard: Shard | null = null,
): Promise<StepResult> {
  const { config, graph, plan, params, teacher } = setup;
  const lambda = lambdaAt(config.loss.lambda, progress);
  let ce: tf.Scalar | null = null;
  let kl: tf.Scalar | null = null;
  let smallCe: tf.Scalar | null = null;
  let correctFull: tf.Scalar | null = null;
  let correctSmall: tf.Scalar | null = null;
  // The teacher's logits are constants of the student's loss: computed off the gradient tape.
  const teacherLogits = teacher === null ? null : tf.tidy(() => forward(teacher.graph, teacher.params, x, { training: false }).full!);
  try {
    return await optimizationStep(
      params,
      params.trainable,
      ({ keep, track }) => {
        const out = forward(graph, params, x, { training: true, small: plan === null ? null : { kind: 'sliced', plan } });
        track(out);
        if (out.small === null) {
          const hits = keep(countCorrect(out.full!, y));
          // A small or kd run's one network is the small architecture.
          if (setup.smallOnly) correctSmall = hits;
          else correctFull = hits;
          if (config.mode === 'kd' && teacherLogits !== null) {
            const terms = distillationLoss(y, out.full!, teacherLogits, config.kd);
            ce = keep(terms.ce);
            kl = keep(terms.kl);
            return terms.total;
          }
          ce = keep(crossEntropy(y, out.full!));
          return ce;
        }
        correctFull = keep(countCorrect(out.full!, y));
        correctSmall = keep(countCorrect(out.small, y));
        const terms = adjoinedLoss(y, out.full!, out.small, { lambda, c: config.loss.c, beta: config.loss.smallCe });
        ce = keep(terms.ce);
        kl = keep(terms.kl);
        smallCe = terms.smallCe === null ? null : keep(terms.smallCe);
        return terms.total;
      },
      rates.lr,
      ({ loss, grads, read, count }) => {
        setup.optimizer.apply(params.trainable, grads, rates);
        return { loss, ce: read(ce)!, kl: read(kl), smallCe: read(smallCe), correctFull: count(correctFull), correctSmall: count(correctSmall) };
      },
      shard,
    );
  } finally {
    teacherLogits?.dispose();
  }
}

/** Validation figures by network: a small or kd run's one network is the small one. */
function validationOf(setup: TrainingSetup, e: Evaluation): Validation {
  return setup.smallOnly ? { full: null, small: e.full } : { full: e.full, small: e.small };
}

export type TrainStepReport = StepResult & { lr: number };

/** The training task the run session drives: steps of the run's loss, an evaluation per epoch, the outputs at the end. */
class TrainingTask implements RunTask<TrainStepReport, TrainResult, TrainEvent> {
  private readonly setup: TrainingSetup;
  private readonly info: DataInfo;
  private history: EpochEvent[] = [];
  private lastEvaluation: Evaluation | null = null;
  readonly epochs: number;
  readonly batchSize: number;
  readonly checkpointEvery: number;
  readonly stepsPerEpoch: number;
  readonly totalSteps: number;
  readonly trainCount: number;
  readonly params: NetworkParams;
  readonly optimizer: Optimizer;
  readonly replica: RunTask<TrainStepReport, TrainResult, TrainEvent>['replica'];

  constructor(
    private readonly config: TrainConfig,
    data: TrainingData,
    initRng: Rng,
  ) {
    const setup = prepareTraining(config, data, initRng);
    this.setup = setup;
    this.info = dataInfo(data, setup.norm);
    this.epochs = config.epochs;
    this.batchSize = config.batchSize;
    this.checkpointEvery = config.checkpointEvery;
    this.stepsPerEpoch = setup.stepsPerEpoch;
    this.totalSteps = setup.totalSteps;
    this.trainCount = setup.train.count;
    this.params = setup.params;
    this.optimizer = setup.optimizer;
    const { inputSize, channels } = config.model;
    this.replica = {
      task: { kind: 'train', config },
      variables: setup.params.all(),
      optimizers: [setup.optimizer],
      imageSize: inputSize * inputSize * channels,
    };
  }

  private lambdaAt(progress: number): number {
    return this.setup.plan === null ? 0 : lambdaAt(this.config.loss.lambda, progress);
  }

  dataInfo(): DataInfo {
    return this.info;
  }

  restore(checkpoint: CheckpointState): void {
    this.history = arr(epochEvent)(checkpoint.history, `${checkpoint.path}: history`);
  }

  started({ time, backend, data, resumedFrom }: StartContext): TrainEvent {
    const { setup } = this;
    return {
      type: 'started',
      time,
      backend,
      config: this.config,
      cost: setup.cost,
      data,
      totalSteps: setup.totalSteps,
      stepsPerEpoch: setup.stepsPerEpoch,
      resumedFrom,
    };
  }

  step(indices: Int32Array, progress: number, { pos, replicas }: LoopContext): Promise<TrainStepReport> {
    const { setup, config } = this;
    const { inputSize, channels } = config.model;
    const batch = setup.batches.build(setup.train, indices, true, pos.augment);
    // By step, so a resumed run continues the same schedule.
    const rates = ratesAt(config.schedule, config.optimizer.lr, pos.globalStep, this.totalSteps);
    const image: [number, number, number] = [inputSize, inputSize, channels];
    return shardedStep(replicas, batch, indices.length, image, { progress, rates, tau: null, noise: null }, async (x, y, shard) => ({
      ...(await trainStep(setup, x, y, progress, rates, shard)),
      lr: rates.lr,
    }));
  }

  accumulate(totals: EpochTotals, r: TrainStepReport, images: number): void {
    addTo(totals, 'loss', r.loss);
    addTo(totals, 'steps', 1);
    addTo(totals, 'correctFull', r.correctFull ?? 0);
    addTo(totals, 'correctSmall', r.correctSmall ?? 0);
    addTo(totals, 'images', images);
  }

  stepEvent(r: TrainStepReport, timing: StepTiming, pos: LoopPosition, time: number): StepEvent {
    return {
      type: 'step',
      ...stepPlace(this, timing, pos, time),
      loss: r.loss,
      ce: r.ce,
      kl: r.kl,
      smallCe: r.smallCe,
      lambda: this.lambdaAt(timing.progress),
      lr: r.lr,
    };
  }

  async endEpoch(trainSeconds: number, { pos, replicas }: LoopContext, time: number): Promise<EpochEvent> {
    const { setup, config } = this;
    const evalStart = performance.now();
    // Both paths, batch norms on their running statistics. The last
    // epoch's also counts the confusion matrix and serves as the final one.
    const last = pos.epoch + 1 === config.epochs;
    const evaluation = await evaluate(setup, setup.val, { confusion: last, sharding: replicas?.evaluation() ?? null });
    if (last) this.lastEvaluation = evaluation;
    const t = pos.totals;
    const images = Math.max(t['images'] ?? 0, 1);
    const progress = pos.globalStep / setup.totalSteps;
    const event: EpochEvent = {
      type: 'epoch',
      time,
      epoch: pos.epoch + 1,
      epochs: config.epochs,
      trainLoss: (t['loss'] ?? 0) / Math.max(t['steps'] ?? 0, 1),
      trainAccuracy: {
        full: setup.smallOnly ? null : (t['correctFull'] ?? 0) / images,
        small: setup.plan === null && !setup.smallOnly ? null : (t['correctSmall'] ?? 0) / images,
      },
      val: validationOf(setup, evaluation),
      lambda: this.lambdaAt(progress),
      lr: ratesAt(config.schedule, config.optimizer.lr, pos.globalStep, setup.totalSteps).lr,
      seconds: trainSeconds + (performance.now() - evalStart) / 1000,
    };
    this.history.push(event);
    return event;
  }

  checkpoint(): TaskCheckpoint {
    return { history: this.history };
  }

  async finish({ pos, replicas }: LoopContext, outDir: string | null, now: () => number): Promise<{ events: TrainEvent[]; result: TrainResult }> {
    const { setup } = this;
    // A run resumed after its last epoch has no evaluation of it yet.
    const final = this.lastEvaluation ?? (await evaluate(setup, setup.val, { confusion: true, sharding: replicas?.evaluation() ?? null }));
    const val = validationOf(setup, final);
    const confusion = final.confusion!;
    const outputs = outDir === null ? null : await writeRunOutputs(outDir, setup, this.info, { val, confusion, history: this.history });
    return {
      events: [{ type: 'finished', time: now(), epochs: this.epochs, val, confusion, seconds: pos.elapsedSeconds, outputs }],
      result: { val, outputs },
    };
  }

  dispose(): void {
    this.setup.params.dispose();
    this.setup.optimizer.dispose();
    this.setup.teacher?.params.dispose();
  }
}

export const TRAINING: TaskDefinition<TrainConfig, TrainStepReport, TrainResult, TrainEvent> = {
  decodeConfig: decodeTrainConfig,
  // The teacher's network is read from where it is now: a kd run taken over by another queue worker has its own copy.
  relocate: (saved, given) => (saved.mode === 'kd' && given.mode === 'kd' ? { ...saved, kd: { ...saved.kd, teacher: given.kd.teacher } } : saved),
  prepare: (config, data, { init }) => new TrainingTask(config, data, init),
};

/**
 * Trains a network in its mode on `data`, emitting typed events: started,
 * step progress, epoch ends, checkpoints, then finished, cancelled or
 * failed. Returns how the run ended; throws only for bad input found before
 * anything was written.
 */
export function train(options: TrainOptions): Promise<TrainOutcome> {
  return runSession(TRAINING, options.config, options);
}
