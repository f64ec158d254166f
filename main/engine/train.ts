import * as tf from '@tensorflow/tfjs';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BackendInfo } from '../../shared/backend.js';
import { InputError, serializeError, type SerializedError } from '../../shared/errors.js';
import type {
  DataInfo,
  EpochEvent,
  FailureReason,
  PathMetrics,
  RunOutputs,
  StepEvent,
  TrainEvent,
} from '../../shared/events.js';
import { costReport, type CostReport } from '../../shared/model/cost.js';
import { buildGraph, type ModelGraph } from '../../shared/model/graph.js';
import { planSmall, type SmallPlan } from '../../shared/model/plan.js';
import { lambdaAt, lrAt } from '../../shared/schedules.js';
import { type TrainConfig, validateTrainConfig } from '../../shared/train-config.js';
import { initBackend } from './backend.js';
import { saveNetwork } from './bundle.js';
import { loadCheckpoint, saveCheckpoint, type CheckpointState } from './checkpoint.js';
import { addTo, freshPosition, runEpochs, type LoopPosition, type StopRequest } from './loop.js';
import { BatchBuilder, normalizationFor, type Normalization } from './data/batches.js';
import type { ImageSplit, TrainingData } from './data/types.js';
import { evaluate } from './evaluate.js';
import { extractSmall } from './extract.js';
import { forward } from './forward.js';
import { saveLayersModel, toLayersModel } from './layers-model.js';
import { adjoinedLoss, crossEntropy } from './loss.js';
import { Optimizer } from './optim.js';
import { createParams, type NetworkParams } from './params.js';
import { Rng } from './rng.js';
import { optimizationStep, TrainingError } from './step.js';

export type { StopRequest } from './loop.js';
export { TrainingError } from './step.js';

export interface TrainOptions {
  config: TrainConfig;
  data: TrainingData;
  emit: (event: TrainEvent) => void;
  /** Polled between steps; a non-null answer stops the run within one step. */
  stopRequested?: () => StopRequest | null;
  /** Checkpoints and outputs go here; null keeps everything in memory (tests). */
  outDir?: string | null;
  /** Continue from `outDir/checkpoint.ckpt`. */
  resume?: boolean;
  /** Minimum milliseconds between two step events. */
  stepEventInterval?: number;
  /** Test hook: called before each step with the global step index and the run's state. */
  beforeStep?: (globalStep: number, setup: TrainingSetup) => void;
}

export type TrainOutcome =
  | { status: 'finished'; val: { full: PathMetrics; small: PathMetrics | null }; outputs: RunOutputs | null }
  | { status: 'cancelled'; checkpoint: string | null }
  | { status: 'failed'; reason: FailureReason; message: string };


export const CHECKPOINT_FILE = 'checkpoint.ckpt';

/** Everything a step needs, built once per run. */
export interface TrainingSetup {
  config: TrainConfig;
  graph: ModelGraph;
  plan: SmallPlan | null;
  cost: CostReport;
  params: NetworkParams;
  optimizer: Optimizer;
  norm: Normalization;
  batches: BatchBuilder;
  train: ImageSplit;
  val: ImageSplit;
  stepsPerEpoch: number;
  totalSteps: number;
}

export function dataInfo(data: TrainingData, norm: Normalization): DataInfo {
  return {
    name: data.name,
    source: data.source,
    classes: data.classes,
    trainCount: data.train.count,
    valCount: data.val.count,
    height: data.height,
    width: data.width,
    channels: data.channels,
    mean: norm.mean,
    std: norm.std,
  };
}

export function prepareTraining(config: TrainConfig, data: TrainingData, initRng: Rng): TrainingSetup {
  validateTrainConfig(config);
  if (data.classes.length !== config.model.classes) {
    throw new InputError(
      `the model has ${config.model.classes} classes but the data has ${data.classes.length}`,
      'classes',
    );
  }
  if (data.train.count === 0) throw new InputError(`${data.source} has no training images`, 'data');
  if (data.val.count === 0) throw new InputError(`${data.source} has no validation images`, 'data');
  const graph = buildGraph(config.model);
  const plan = config.mode === 'an' ? planSmall(graph, config.alpha!) : null;
  const cost = costReport(graph, plan === null ? null : config.alpha);
  const norm = normalizationFor(config.augmentation, data, config.model.channels);
  const batches = new BatchBuilder(data, config.model.inputSize, config.model.channels, norm, config.augmentation);
  const stepsPerEpoch = Math.ceil(data.train.count / config.batchSize);
  return {
    config,
    graph,
    plan,
    cost,
    params: createParams(graph, plan, initRng),
    optimizer: new Optimizer(config.optimizer),
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
  kl: number | null;
  smallCe: number | null;
  correctFull: number;
  correctSmall: number | null;
}

function countCorrect(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar {
  return tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), labels), 'int32'));
}

/** One optimisation step of the standard or adjoined loss on a batch. */
export function trainStep(
  setup: TrainingSetup,
  x: tf.Tensor4D,
  y: tf.Tensor1D,
  progress: number,
  lr: number,
): StepResult {
  const { config, graph, plan, params } = setup;
  const lambda = lambdaAt(config.loss.lambda, progress);
  let ce: tf.Scalar | null = null;
  let kl: tf.Scalar | null = null;
  let smallCe: tf.Scalar | null = null;
  let correctFull: tf.Scalar | null = null;
  let correctSmall: tf.Scalar | null = null;
  return optimizationStep(
    params,
    params.trainable,
    ({ keep, track }) => {
      const out = forward(graph, params, x, { training: true, small: plan === null ? null : { kind: 'sliced', plan } });
      track(out);
      correctFull = keep(countCorrect(out.full!, y));
      if (out.small === null) {
        ce = keep(crossEntropy(y, out.full!));
        return ce;
      }
      correctSmall = keep(countCorrect(out.small, y));
      const terms = adjoinedLoss(y, out.full!, out.small, { lambda, c: config.loss.c, beta: config.loss.smallCe });
      ce = keep(terms.ce);
      kl = keep(terms.kl);
      smallCe = terms.smallCe === null ? null : keep(terms.smallCe);
      return terms.total;
    },
    lr,
    ({ loss, grads, read }) => {
      setup.optimizer.apply(params.trainable, grads, lr);
      return { loss, ce: read(ce)!, kl: read(kl), smallCe: read(smallCe), correctFull: read(correctFull)!, correctSmall: read(correctSmall) };
    },
  );
}

/**
 * Trains a standard or adjoined network on `data`, emitting typed events:
 * started, step progress, epoch ends, checkpoints, then finished, cancelled
 * or failed. Returns how the run ended; throws only for bad input found
 * before anything was written.
 */
export async function train(options: TrainOptions): Promise<TrainOutcome> {
  const { data, emit } = options;
  const outDir = options.outDir ?? null;
  const now = (): number => Date.now();
  let config = options.config;
  const ckptPath = outDir === null ? null : join(outDir, CHECKPOINT_FILE);

  const backend: BackendInfo = await initBackend();
  let checkpoint: CheckpointState | null = null;
  if (options.resume === true) {
    if (ckptPath === null || (!existsSync(ckptPath) && !existsSync(`${ckptPath}.prev`))) {
      throw new InputError(`there is no checkpoint to resume from in ${outDir ?? '(no output folder)'}`, 'resume');
    }
    checkpoint = loadCheckpoint(ckptPath);
    config = validateTrainConfig(checkpoint.config as TrainConfig);
  }
  const root = new Rng(config.seed);
  const initRng = root.fork();
  const orderRng = root.fork();
  const augment = root.fork();
  const setup = prepareTraining(config, data, initRng);
  let history: EpochEvent[] = [];
  let pos: LoopPosition = freshPosition(orderRng.state(), augment);
  if (checkpoint !== null) {
    checkpoint.restoreInto(setup.params, setup.optimizer);
    pos = { ...checkpoint.position, augment: new Rng(checkpoint.position.augmentState), totals: { ...checkpoint.position.totals } };
    history = checkpoint.history as EpochEvent[];
  }
  if (outDir !== null) mkdirSync(outDir, { recursive: true });

  const { stepsPerEpoch, totalSteps } = setup;
  const info = dataInfo(data, setup.norm);
  emit({
    type: 'started',
    time: now(),
    backend,
    config,
    cost: setup.cost,
    data: info,
    totalSteps,
    stepsPerEpoch,
    resumedFrom: checkpoint === null ? null : { epoch: pos.epoch, step: pos.step },
  });

  const writeCheckpoint = (): string | null => {
    if (ckptPath === null) return null;
    saveCheckpoint(ckptPath, {
      config,
      params: setup.params,
      optimizer: setup.optimizer,
      position: { ...pos, augmentState: pos.augment.state() },
      history,
    });
    emit({ type: 'checkpoint', time: now(), epoch: pos.epoch, step: pos.step, path: ckptPath });
    return ckptPath;
  };
  const lambdaNow = (progress: number): number => (setup.plan === null ? 0 : lambdaAt(config.loss.lambda, progress));
  const { inputSize, channels } = config.model;

  try {
    const loop = await runEpochs<StepResult & { lr: number }>({
      epochs: config.epochs,
      stepsPerEpoch,
      batchSize: config.batchSize,
      trainCount: setup.train.count,
      position: pos,
      stepEventInterval: options.stepEventInterval ?? 250,
      stopRequested: options.stopRequested,
      beforeStep: (globalStep) => options.beforeStep?.(globalStep, setup),
      checkpointEvery: config.checkpointEvery,
      checkpoint: writeCheckpoint,
      step: (indices, progress) => {
        const batch = setup.batches.build(setup.train, indices, true, pos.augment);
        const lr = lrAt(config.schedule, config.optimizer.lr, progress);
        const x = tf.tensor4d(batch.x, [indices.length, inputSize, inputSize, channels]);
        const y = tf.tensor1d(batch.y, 'int32');
        try {
          return { ...trainStep(setup, x, y, progress, lr), lr };
        } finally {
          x.dispose();
          y.dispose();
        }
      },
      accumulate: (totals, r, images) => {
        addTo(totals, 'loss', r.loss);
        addTo(totals, 'steps', 1);
        addTo(totals, 'correctFull', r.correctFull);
        addTo(totals, 'correctSmall', r.correctSmall ?? 0);
        addTo(totals, 'images', images);
      },
      reportStep: (r, timing) => {
        const event: StepEvent = {
          type: 'step',
          time: now(),
          epoch: pos.epoch + 1,
          step: pos.step,
          stepsPerEpoch,
          globalStep: pos.globalStep,
          totalSteps,
          progress: pos.globalStep / totalSteps,
          loss: r.loss,
          ce: r.ce,
          kl: r.kl,
          smallCe: r.smallCe,
          lambda: lambdaNow(timing.progress),
          lr: r.lr,
          imagesPerSecond: timing.imagesPerSecond,
          etaSeconds: timing.etaSeconds,
        };
        emit(event);
      },
      endEpoch: (trainSeconds) => {
        const evalStart = performance.now();
        // Both paths, batch norms on their running statistics.
        const val = evaluate(setup, setup.val, { confusion: false });
        const t = pos.totals;
        const images = Math.max(t['images'] ?? 0, 1);
        const progress = pos.globalStep / totalSteps;
        const event: EpochEvent = {
          type: 'epoch',
          time: now(),
          epoch: pos.epoch + 1,
          epochs: config.epochs,
          trainLoss: (t['loss'] ?? 0) / Math.max(t['steps'] ?? 0, 1),
          trainAccuracy: {
            full: (t['correctFull'] ?? 0) / images,
            small: setup.plan === null ? null : (t['correctSmall'] ?? 0) / images,
          },
          val: { full: val.full!, small: val.small },
          lambda: lambdaNow(progress),
          lr: lrAt(config.schedule, config.optimizer.lr, progress),
          seconds: trainSeconds + (performance.now() - evalStart) / 1000,
        };
        history.push(event);
        emit(event);
      },
    });
    if (loop.status === 'cancelled') {
      emit({ type: 'cancelled', time: now(), epoch: pos.epoch + 1, step: pos.step, checkpoint: loop.checkpoint });
      return { status: 'cancelled', checkpoint: loop.checkpoint };
    }

    const final = evaluate(setup, setup.val, { confusion: true });
    const outputs = outDir === null ? null : await writeOutputs(outDir, setup, info, history, final);
    emit({
      type: 'finished',
      time: now(),
      epochs: config.epochs,
      val: { full: final.full!, small: final.small },
      confusion: final.confusion!,
      seconds: pos.elapsedSeconds,
      outputs,
    });
    return { status: 'finished', val: { full: final.full!, small: final.small }, outputs };
  } catch (e) {
    const failure = describeFailure(e, pos);
    // The last good checkpoint is left as it was.
    emit({ type: 'failed', time: now(), ...failure, checkpoint: ckptPath !== null && existsSync(ckptPath) ? ckptPath : null });
    return { status: 'failed', reason: failure.reason, message: failure.error.message };
  } finally {
    setup.params.dispose();
    setup.optimizer.dispose();
  }
}

/** The failed event's reason and error, with where in the run it happened. */
export function describeFailure(e: unknown, pos: LoopPosition): { reason: FailureReason; error: SerializedError } {
  const reason: FailureReason = e instanceof TrainingError ? e.reason : 'error';
  const where = `epoch ${pos.epoch + 1}, step ${pos.step + 1}`;
  const error = serializeError(e);
  error.message = e instanceof TrainingError ? `${e.message} (${where}); the run was stopped` : `${error.message} (${where})`;
  return { reason, error };
}

async function writeOutputs(
  outDir: string,
  setup: TrainingSetup,
  info: DataInfo,
  history: EpochEvent[],
  final: ReturnType<typeof evaluate>,
): Promise<RunOutputs> {
  const meta = { config: setup.config, data: info, cost: setup.cost };
  const network = join(outDir, 'network.adjoin');
  saveNetwork(network, setup.graph, setup.params, { ...meta, kind: setup.plan === null ? 'standard' : 'adjoined' });
  let small: RunOutputs['small'] = null;
  if (setup.plan !== null) {
    const extracted = extractSmall(setup.graph, setup.plan, setup.params);
    try {
      const bundle = join(outDir, 'small.adjoin');
      saveNetwork(bundle, extracted.graph, extracted.params, { ...meta, kind: 'extracted-small' });
      const model = toLayersModel(extracted.graph, extracted.params);
      const tfjs = join(outDir, 'small-tfjs');
      await saveLayersModel(model, tfjs);
      model.dispose();
      small = { bundle, tfjs };
    } finally {
      extracted.params.dispose();
    }
  }
  const summary = join(outDir, 'run.json');
  writeFileSync(
    summary,
    JSON.stringify(
      {
        ...meta,
        val: { full: final.full, small: final.small },
        confusion: final.confusion,
        history,
      },
      null,
      2,
    ),
  );
  return { network, small, summary };
}
