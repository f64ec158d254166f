import * as tf from '@tensorflow/tfjs';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BackendInfo } from '../../shared/backend.js';
import { InputError, serializeError, type SerializedError } from '../../shared/errors.js';
import type { DataInfo, EpochEvent, FailureReason, PathMetrics, RunOutputs, StepEvent, TrainEvent } from '../../shared/events.js';
import { costReport, type CostReport } from '../../shared/model/cost.js';
import { buildGraph, type ModelGraph } from '../../shared/model/graph.js';
import { planSmall, type SmallPlan } from '../../shared/model/plan.js';
import { smallNetworkGraph } from '../../shared/model/small-network.js';
import { lambdaAt, lrAt } from '../../shared/schedules.js';
import { trainsSmallOnly, type KdConfig, type TrainConfig, validateTrainConfig } from '../../shared/train-config.js';
import { initBackend } from './backend.js';
import { loadNetwork, saveNetwork } from './bundle.js';
import { checkpointToResume, saveCheckpoint } from './checkpoint.js';
import { addTo, freshPosition, runEpochs, type LoopPosition, type StopRequest } from './loop.js';
import { BatchBuilder, normalizationFor, type Normalization } from './data/batches.js';
import { dataFingerprint } from './data/fingerprint.js';
import type { ImageSplit, TrainingData } from './data/types.js';
import { dataShape } from './data/shape.js';
import { evaluate, type Evaluation } from './evaluate.js';
import { extractSmall } from './extract.js';
import { forward } from './forward.js';
import { saveLayersModel, toLayersModel } from './layers-model.js';
import { adjoinedLoss, crossEntropy, distillationLoss } from './loss.js';
import { Optimizer } from './optim.js';
import { createParams, type NetworkParams } from './params.js';
import { Rng } from './rng.js';
import { optimizationStep, TrainingError, type Shard } from './step.js';
import { shardedStep } from './parallel/replicas.js';
import { startReplicas, withEngines } from './parallel/start.js';

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
  /** Engines training side by side (data-parallel); default: one per core on wasm and cpu (see `trainWorkers`). */
  workers?: number;
  /** Test hook: called before each step with the global step index and the run's state. */
  beforeStep?: (globalStep: number, setup: TrainingSetup) => void;
}

export type TrainOutcome =
  | { status: 'finished'; val: { full: PathMetrics | null; small: PathMetrics | null }; outputs: RunOutputs | null }
  | { status: 'cancelled'; checkpoint: string | null }
  | { status: 'failed'; reason: FailureReason; message: string };

export const CHECKPOINT_FILE = 'checkpoint.ckpt';

/** Everything a step needs, built once per run. */
/** What a training step needs: a replica builds only this, without the data. */
export type StepSetup = Pick<TrainingSetup, 'config' | 'graph' | 'plan' | 'smallOnly' | 'teacher' | 'params' | 'optimizer'>;

export interface TrainingSetup {
  config: TrainConfig;
  /** The network trained: the full (adjoined) one, or for small and kd runs the small architecture alone. */
  graph: ModelGraph;
  plan: SmallPlan | null;
  /** Full network and small network of α, whichever of them is trained. */
  cost: CostReport;
  /** The trained network is the small one (small and kd runs): its figures are reported as the small network's. */
  smallOnly: boolean;
  /** A kd run's teacher, in inference mode. */
  teacher: { graph: ModelGraph; params: NetworkParams } | null;
  params: NetworkParams;
  optimizer: Optimizer;
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
 * A kd run's teacher: the network of a finished standard run, trained on the
 * same images at the same input size and classes, else refused with the
 * difference named.
 */
function loadTeacher(kd: KdConfig, config: TrainConfig, data: TrainingData): { graph: ModelGraph; params: NetworkParams } {
  const who = kd.teacherRun === null ? `the teacher ${kd.teacher}` : `teacher run ${kd.teacherRun}`;
  if (!existsSync(kd.teacher)) throw new InputError(`${who} has no trained network at ${kd.teacher}`, 'teacher');
  const bundle = loadNetwork<{ config?: TrainConfig; data?: DataInfo; kind?: string }>(kd.teacher);
  const refuse = (why: string): never => {
    bundle.params.dispose();
    throw new InputError(`${who} cannot teach this run: ${why}`, 'teacher');
  };
  const t = bundle.extra;
  if (t.kind !== 'standard' || t.config === undefined || t.data === undefined)
    refuse('it is not a standard run (kd distils the full network of a standard run)');
  const tc = t.config!;
  const td = t.data!;
  if (tc.model.inputSize !== config.model.inputSize)
    refuse(`it takes ${tc.model.inputSize}×${tc.model.inputSize} images, this run ${config.model.inputSize}×${config.model.inputSize}`);
  if (tc.model.channels !== config.model.channels) refuse(`it takes ${tc.model.channels} channel(s), this run ${config.model.channels}`);
  if (td.classes.join('\n') !== data.classes.join('\n')) refuse(`its classes are ${td.classes.join(', ')}; this data's are ${data.classes.join(', ')}`);
  const fingerprint = dataFingerprint(data);
  if (td.fingerprint !== undefined && td.fingerprint !== fingerprint) {
    refuse(`it was trained on other images (${td.name}: ${td.trainCount} train / ${td.valCount} val; this data: ${data.train.count} / ${data.val.count})`);
  }
  return { graph: bundle.graph, params: bundle.params };
}

/**
 * The network a run trains, its optimizer and its teacher: all a training
 * step needs (a data-parallel replica builds only this).
 */
export function stepSetupFor(config: TrainConfig, initRng: Rng, teacher: StepSetup['teacher']): StepSetup {
  const full = buildGraph(config.model);
  const smallOnly = trainsSmallOnly(config.mode);
  // small and kd train the small architecture of α alone: exactly what an AN run extracts.
  const graph = smallOnly ? smallNetworkGraph(full, planSmall(full, config.alpha!)) : full;
  const plan = config.mode === 'an' ? planSmall(full, config.alpha!) : null;
  return { config, graph, plan, smallOnly, teacher, params: createParams(graph, plan, initRng), optimizer: new Optimizer(config.optimizer) };
}

export function prepareTraining(config: TrainConfig, data: TrainingData, initRng: Rng): TrainingSetup {
  validateTrainConfig(config);
  if (data.classes.length !== config.model.classes) {
    throw new InputError(`the model has ${config.model.classes} classes but the data has ${data.classes.length}`, 'classes');
  }
  if (data.train.count === 0) throw new InputError(`${data.source} has no training images`, 'data');
  if (data.val.count === 0) throw new InputError(`${data.source} has no validation images`, 'data');
  const cost = costReport(buildGraph(config.model), config.mode === 'standard' ? null : config.alpha);
  const teacher = config.mode === 'kd' ? loadTeacher(config.kd!, config, data) : null;
  const norm = normalizationFor(config.augmentation, data, config.model.channels);
  const batches = new BatchBuilder(data, config.model.inputSize, config.model.channels, norm, config.augmentation);
  const stepsPerEpoch = Math.ceil(data.train.count / config.batchSize);
  return {
    ...stepSetupFor(config, initRng, teacher),
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

/** One optimisation step of the standard or adjoined loss on a batch. */
export async function trainStep(
  setup: StepSetup,
  x: tf.Tensor4D,
  y: tf.Tensor1D,
  progress: number,
  lr: number,
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
          if (teacherLogits !== null) {
            const terms = distillationLoss(y, out.full!, teacherLogits, config.kd!);
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
      lr,
      ({ loss, grads, read, count }) => {
        setup.optimizer.apply(params.trainable, grads, lr);
        return { loss, ce: read(ce)!, kl: read(kl), smallCe: read(smallCe), correctFull: count(correctFull), correctSmall: count(correctSmall) };
      },
      shard,
    );
  } finally {
    teacherLogits?.dispose();
  }
}

/** Validation figures by network: a small or kd run's one network is the small one. */
function validationOf(setup: TrainingSetup, e: Evaluation): { full: PathMetrics | null; small: PathMetrics | null } {
  return setup.smallOnly ? { full: null, small: e.full } : { full: e.full, small: e.small };
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
  const checkpoint = checkpointToResume(outDir, CHECKPOINT_FILE, options.resume === true);
  if (checkpoint !== null) config = validateTrainConfig(checkpoint.config as TrainConfig);
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
  const { inputSize, channels } = config.model;
  const replicas = await startReplicas(backend, options.workers ?? null, {
    task: { kind: 'train', config },
    variables: setup.params.all(),
    optimizers: [setup.optimizer],
    imageSize: inputSize * inputSize * channels,
  });
  emit({
    type: 'started',
    time: now(),
    backend: withEngines(backend, replicas?.count ?? 1),
    config,
    cost: setup.cost,
    data: info,
    totalSteps,
    stepsPerEpoch,
    resumedFrom: checkpoint === null ? null : { epoch: pos.epoch, step: pos.step },
  });

  const writeCheckpoint = async (): Promise<string | null> => {
    if (ckptPath === null) return null;
    await saveCheckpoint(ckptPath, {
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

  let lastEvaluation: Evaluation | null = null;
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
        return shardedStep(
          replicas,
          batch,
          indices.length,
          [inputSize, inputSize, channels],
          { progress, lr, tau: null, noise: null },
          async (x, y, shard) => ({
            ...(await trainStep(setup, x, y, progress, lr, shard)),
            lr,
          }),
        );
      },
      accumulate: (totals, r, images) => {
        addTo(totals, 'loss', r.loss);
        addTo(totals, 'steps', 1);
        addTo(totals, 'correctFull', r.correctFull ?? 0);
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
      endEpoch: async (trainSeconds) => {
        const evalStart = performance.now();
        // Both paths, batch norms on their running statistics. The last
        // epoch's also counts the confusion matrix and serves as the final one.
        const last = pos.epoch + 1 === config.epochs;
        const evaluation = await evaluate(setup, setup.val, { confusion: last, sharding: replicas?.evaluation() ?? null });
        if (last) lastEvaluation = evaluation;
        const val = validationOf(setup, evaluation);
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
            full: setup.smallOnly ? null : (t['correctFull'] ?? 0) / images,
            small: setup.plan === null && !setup.smallOnly ? null : (t['correctSmall'] ?? 0) / images,
          },
          val,
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

    // A run resumed after its last epoch has no evaluation of it yet.
    const final = lastEvaluation ?? (await evaluate(setup, setup.val, { confusion: true, sharding: replicas?.evaluation() ?? null }));
    const val = validationOf(setup, final);
    const outputs = outDir === null ? null : await writeOutputs(outDir, setup, info, history, val, final.confusion!);
    emit({ type: 'finished', time: now(), epochs: config.epochs, val, confusion: final.confusion!, seconds: pos.elapsedSeconds, outputs });
    return { status: 'finished', val, outputs };
  } catch (e) {
    const failure = describeFailure(e, pos);
    // The last good checkpoint is left as it was.
    emit({ type: 'failed', time: now(), ...failure, checkpoint: ckptPath !== null && existsSync(ckptPath) ? ckptPath : null });
    return { status: 'failed', reason: failure.reason, message: failure.error.message };
  } finally {
    await replicas?.stop();
    setup.params.dispose();
    setup.optimizer.dispose();
    setup.teacher?.params.dispose();
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

/** What a bundle's `kind` says about its network: how a teacher check and an export read it. */
function bundleKind(setup: TrainingSetup): string {
  if (setup.smallOnly) return setup.config.mode;
  return setup.plan === null ? 'standard' : 'adjoined';
}

async function writeOutputs(
  outDir: string,
  setup: TrainingSetup,
  info: DataInfo,
  history: EpochEvent[],
  val: { full: PathMetrics | null; small: PathMetrics | null },
  confusion: number[][],
): Promise<RunOutputs> {
  const meta = { config: setup.config, data: info, cost: setup.cost };
  const network = join(outDir, 'network.adjoin');
  await saveNetwork(network, setup.graph, setup.params, { ...meta, kind: bundleKind(setup) });
  const tfjs = join(outDir, 'small-tfjs');
  let small: RunOutputs['small'] = null;
  if (setup.smallOnly) {
    // The trained network is the small one itself.
    const model = toLayersModel(setup.graph, setup.params);
    await saveLayersModel(model, tfjs);
    model.dispose();
    small = { bundle: network, tfjs };
  } else if (setup.plan !== null) {
    const extracted = extractSmall(setup.graph, setup.plan, setup.params);
    try {
      const bundle = join(outDir, 'small.adjoin');
      await saveNetwork(bundle, extracted.graph, extracted.params, { ...meta, kind: 'extracted-small' });
      const model = toLayersModel(extracted.graph, extracted.params);
      await saveLayersModel(model, tfjs);
      model.dispose();
      small = { bundle, tfjs };
    } finally {
      extracted.params.dispose();
    }
  }
  const summary = join(outDir, 'run.json');
  writeFileSync(summary, JSON.stringify({ ...meta, val, confusion, history }, null, 2));
  return { network, small, summary };
}
