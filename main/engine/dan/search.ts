import * as tf from '@tensorflow/tfjs';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type SearchConfig, tauAt, validateSearchConfig } from '../../../shared/dan.js';
import { InputError } from '../../../shared/errors.js';
import type { EngineEvent, SearchEpochEvent, SearchResultEvent } from '../../../shared/events.js';
import { costReport, type Cost } from '../../../shared/model/cost.js';
import { buildGraph, type ModelGraph } from '../../../shared/model/graph.js';
import { lambdaAt, lrAt } from '../../../shared/schedules.js';
import { initBackend } from '../backend.js';
import { checkpointToResume, saveCheckpoint } from '../checkpoint.js';
import { BatchBuilder, normalizationFor, type Normalization } from '../data/batches.js';
import type { ImageSplit, TrainingData } from '../data/types.js';
import { evaluate } from '../evaluate.js';
import { forward } from '../forward.js';
import { adjoinedLoss } from '../loss.js';
import { addTo, freshPosition, runEpochs, type LoopPosition, type StopRequest } from '../loop.js';
import { Optimizer } from '../optim.js';
import { createParams, type NetworkParams } from '../params.js';
import { Rng } from '../rng.js';
import { expectedMacs, propagateMasks } from '../soft-masks.js';
import { optimizationStep, type Shard } from '../step.js';
import { shardedStep } from '../parallel/replicas.js';
import { startReplicas, withEngines } from '../parallel/start.js';
import { CHECKPOINT_FILE, dataInfo, describeFailure } from '../train.js';
import { SearchSpace } from './search-space.js';

/** What a search step needs: a replica builds only this, without the data. */
export type SearchStepSetup = Pick<SearchSetup, 'config' | 'graph' | 'space' | 'params' | 'optimizer' | 'archOptimizer' | 'fullMacs'>;

export interface SearchSetup {
  config: SearchConfig;
  graph: ModelGraph;
  space: SearchSpace;
  params: NetworkParams;
  /** Network weights. */
  optimizer: Optimizer;
  /** Architecture logits η. */
  archOptimizer: Optimizer;
  fullMacs: number;
  norm: Normalization;
  batches: BatchBuilder;
  train: ImageSplit;
  val: ImageSplit;
  stepsPerEpoch: number;
  totalSteps: number;
}

/** The super-network, its η and both optimizers: all a search step needs (a data-parallel replica builds only this). */
export function searchStepSetupFor(config: SearchConfig, graph: ModelGraph, space: SearchSpace, initRng: Rng): SearchStepSetup {
  return {
    config,
    graph,
    space,
    params: createParams(graph, space.plan, initRng),
    optimizer: new Optimizer(config.optimizer),
    archOptimizer: new Optimizer({ kind: 'adam', lr: config.archLr, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0 }),
    fullMacs: costReport(graph).full.macs,
  };
}

export function prepareSearch(config: SearchConfig, data: TrainingData, initRng: Rng): SearchSetup {
  validateSearchConfig(config);
  if (data.classes.length !== config.model.classes) {
    throw new InputError(`the model has ${config.model.classes} classes but the data has ${data.classes.length}`, 'classes');
  }
  const graph = buildGraph(config.model);
  if (graph.groups.length === 0) throw new InputError(`${config.model.arch} has no adjoined layers to search`, 'arch');
  let space: SearchSpace;
  try {
    space = new SearchSpace(graph, config.space);
  } catch (e) {
    throw new InputError((e as Error).message, 'space');
  }
  const norm = normalizationFor(config.augmentation, data, config.model.channels);
  const stepsPerEpoch = Math.ceil(data.train.count / config.batchSize);
  return {
    ...searchStepSetupFor(config, graph, space, initRng),
    norm,
    batches: new BatchBuilder(data, config.model.inputSize, config.model.channels, norm, config.augmentation),
    train: data.train,
    val: data.val,
    stepsPerEpoch,
    totalSteps: stepsPerEpoch * config.epochs,
  };
}

export interface SearchStepResult {
  loss: number;
  ce: number;
  kl: number;
  /** n_f of this step. */
  flops: number;
}

/**
 * One step of the DAN loss CE(p) + λ(t)·(c·KL(p‖q) + γ·n_f) + β·CE(q) on the
 * super-network: the small path runs one convolution per layer at the widest
 * candidate and scales channels by the soft masks; weights and η both move.
 */
export async function searchStep(
  setup: SearchStepSetup,
  x: tf.Tensor4D,
  y: tf.Tensor1D,
  progress: number,
  lr: number,
  tau: number,
  noise: ReadonlyMap<string, Float32Array> | null,
  shard: Shard | null = null,
): Promise<SearchStepResult> {
  const { config, graph, space, params } = setup;
  const lambda = lambdaAt(config.loss.lambda, progress);
  let ce: tf.Scalar | null = null;
  let kl: tf.Scalar | null = null;
  let flops: tf.Scalar | null = null;
  const etas = space.etaVariables();
  return optimizationStep(
    params,
    new Map([...params.trainable, ...etas]),
    ({ keep, track }) => {
      const { masks } = space.softMasks(tau, noise);
      const out = forward(graph, params, x, { training: true, small: { kind: 'masked', plan: space.plan, masks } });
      track(out);
      const terms = adjoinedLoss(y, out.full!, out.small!, { lambda, c: config.loss.c, beta: config.loss.smallCe });
      ce = keep(terms.ce);
      kl = keep(terms.kl);
      flops = keep(tf.div(expectedMacs(graph, space.plan, out.masks), setup.fullMacs) as tf.Scalar);
      return tf.add(terms.total, tf.mul(flops, lambda * config.gamma)) as tf.Scalar;
    },
    lr,
    ({ loss, grads, read }) => {
      const weightGrads: tf.NamedTensorMap = {};
      const etaGrads: tf.NamedTensorMap = {};
      for (const [name, g] of Object.entries(grads)) (name.startsWith('eta/') ? etaGrads : weightGrads)[name] = g;
      setup.optimizer.apply(params.trainable, weightGrads, lr);
      setup.archOptimizer.apply(etas, etaGrads, config.archLr);
      return { loss, ce: read(ce)!, kl: read(kl)!, flops: read(flops)! };
    },
    shard,
  );
}

/** Expected small-network MACs under softmax(η/τ), without noise. */
export async function expectedMacsAt(setup: Pick<SearchSetup, 'graph' | 'space'>, tau: number): Promise<number> {
  const macs = tf.tidy(() => {
    const { masks } = setup.space.softMasks(tau, null);
    return expectedMacs(setup.graph, setup.space.plan, propagateMasks(setup.graph, setup.space.plan, masks));
  });
  try {
    return (await macs.data())[0]!;
  } finally {
    macs.dispose();
  }
}

export interface SearchOptions {
  config: SearchConfig;
  data: TrainingData;
  emit: (event: EngineEvent) => void;
  stopRequested?: () => StopRequest | null;
  outDir?: string | null;
  resume?: boolean;
  stepEventInterval?: number;
  /** Engines searching side by side (data-parallel); default: one per core on wasm and cpu. */
  workers?: number;
}

export type SearchOutcome =
  | { status: 'finished'; alphas: Record<string, number>; cost: { full: Cost; small: Cost } }
  | { status: 'cancelled'; checkpoint: string | null }
  | { status: 'failed'; reason: string; message: string };

interface SearchExtra {
  noise: Record<string, number[]> | null;
  history: SearchResultEvent['history'];
  archOptimizerSteps: number;
}

/**
 * Searches per-group widths (paper section 5) and emits search-started,
 * search-step, search-epoch (the distribution g of every group, τ, expected
 * MACs), checkpoints, and finally search-result with the α map.
 */
export async function search(options: SearchOptions): Promise<SearchOutcome> {
  const { data, emit } = options;
  const outDir = options.outDir ?? null;
  const now = (): number => Date.now();
  const ckptPath = outDir === null ? null : join(outDir, CHECKPOINT_FILE);
  let config = options.config;
  const backend = await initBackend();
  const checkpoint = checkpointToResume(outDir, CHECKPOINT_FILE, options.resume === true);
  if (checkpoint !== null) config = validateSearchConfig(checkpoint.config as SearchConfig);
  const root = new Rng(config.seed);
  const initRng = root.fork();
  const orderRng = root.fork();
  const augment = root.fork();
  const noiseRng = root.fork();
  const setup = prepareSearch(config, data, initRng);
  const { space } = setup;
  let pos: LoopPosition = freshPosition(orderRng.state(), augment);
  let extra: SearchExtra = { noise: null, history: [], archOptimizerSteps: 0 };
  if (checkpoint !== null) {
    checkpoint.restoreInto(setup.params, setup.optimizer);
    pos = { ...checkpoint.position, augment: new Rng(checkpoint.position.augmentState), totals: { ...checkpoint.position.totals } };
    extra = checkpoint.extra as SearchExtra;
    const slots = new Map<string, tf.Tensor>();
    for (const [name, t] of checkpoint.extraTensors) {
      const v = tf.tensor(t.data, t.shape, 'float32');
      if (name.startsWith('eta/')) {
        space.etaVariables().get(name)?.assign(v);
        v.dispose();
      } else slots.set(name.replace(/^arch\//, ''), v);
    }
    setup.archOptimizer.restore(extra.archOptimizerSteps, slots);
    tf.dispose([...slots.values()]);
  }
  // The authors draw the noise once per layer and keep it; `fresh` redraws it every step.
  const fixedNoise =
    config.noise === 'fixed'
      ? extra.noise !== null
        ? new Map(Object.entries(extra.noise).map(([k, v]) => [k, Float32Array.from(v)]))
        : space.drawNoise(noiseRng)
      : null;
  extra.noise = fixedNoise === null ? null : Object.fromEntries([...fixedNoise].map(([k, v]) => [k, Array.from(v)]));
  if (outDir !== null) mkdirSync(outDir, { recursive: true });

  const { stepsPerEpoch, totalSteps } = setup;
  const info = dataInfo(data, setup.norm);
  const { inputSize, channels } = config.model;
  const replicas = await startReplicas(backend, options.workers ?? null, {
    task: { kind: 'search', config },
    variables: new Map([...setup.params.all(), ...space.etaVariables()]),
    optimizers: [setup.optimizer, setup.archOptimizer],
    imageSize: inputSize * inputSize * channels,
  });
  emit({
    type: 'search-started',
    time: now(),
    backend: withEngines(backend, replicas?.count ?? 1),
    config,
    data: info,
    groups: space.groups.map((g) => ({ group: g.group, channels: g.channels })),
    full: costReport(setup.graph).full,
    totalSteps,
    stepsPerEpoch,
    resumedFrom: checkpoint === null ? null : { epoch: pos.epoch, step: pos.step },
  });

  const writeCheckpoint = async (): Promise<string | null> => {
    if (ckptPath === null) return null;
    const state = setup.archOptimizer.state();
    const extraTensors = new Map<string, tf.Tensor>([...space.etaVariables(), ...[...state.slots].map(([k, v]) => [`arch/${k}`, v] as const)]);
    extra.archOptimizerSteps = state.steps;
    await saveCheckpoint(ckptPath, {
      config,
      params: setup.params,
      optimizer: setup.optimizer,
      position: { ...pos, augmentState: pos.augment.state() },
      history: [],
      extra,
      extraTensors,
    });
    emit({ type: 'checkpoint', time: now(), epoch: pos.epoch, step: pos.step, path: ckptPath });
    return ckptPath;
  };

  try {
    const loop = await runEpochs<SearchStepResult & { lr: number; tau: number }>({
      epochs: config.epochs,
      stepsPerEpoch,
      batchSize: config.batchSize,
      trainCount: setup.train.count,
      position: pos,
      stepEventInterval: options.stepEventInterval ?? 250,
      stopRequested: options.stopRequested,
      checkpointEvery: config.checkpointEvery,
      checkpoint: writeCheckpoint,
      step: (indices, progress) => {
        const batch = setup.batches.build(setup.train, indices, true, pos.augment);
        const lr = lrAt(config.schedule, config.optimizer.lr, progress);
        const tau = tauAt(config.tau, pos.epoch);
        const noise = fixedNoise ?? space.drawNoise(pos.augment);
        return shardedStep(
          replicas,
          batch,
          indices.length,
          [inputSize, inputSize, channels],
          { progress, lr, tau, noise: [...noise] },
          async (x, y, shard) => ({
            ...(await searchStep(setup, x, y, progress, lr, tau, noise, shard)),
            lr,
            tau,
          }),
        );
      },
      accumulate: (totals, r) => {
        addTo(totals, 'loss', r.loss);
        addTo(totals, 'steps', 1);
      },
      reportStep: (r, timing) =>
        emit({
          type: 'search-step',
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
          flops: r.flops,
          lambda: lambdaAt(config.loss.lambda, timing.progress),
          lr: r.lr,
          tau: r.tau,
          imagesPerSecond: timing.imagesPerSecond,
          etaSeconds: timing.etaSeconds,
        }),
      endEpoch: async (trainSeconds) => {
        const evalStart = performance.now();
        const tau = tauAt(config.tau, pos.epoch);
        // The super-network as trained: its small path under the noise-free
        // mixture softmax(η/τ). (Hard argmax masks would meet batch-norm
        // statistics gathered under soft ones; the found network is judged by
        // training it.)
        const soft = new Map<string, tf.Tensor1D>();
        tf.tidy(() => {
          for (const [group, m] of space.softMasks(tau, null).masks) soft.set(group, tf.keep(m));
        });
        let val;
        try {
          // Every engine builds the same soft masks from its (identical) η and measures its shard.
          val = await evaluate({ graph: setup.graph, params: setup.params, plan: null, batches: setup.batches, config }, setup.val, {
            confusion: false,
            small: { kind: 'masked', plan: space.plan, masks: soft },
            softTau: tau,
            sharding: replicas?.evaluation() ?? null,
          });
        } finally {
          tf.dispose([...soft.values()]);
        }
        const groups = await space.report(tau);
        extra.history.push({ epoch: pos.epoch + 1, tau, probabilities: Object.fromEntries(groups.map((g) => [g.group, g.probabilities])) });
        const event: SearchEpochEvent = {
          type: 'search-epoch',
          time: now(),
          epoch: pos.epoch + 1,
          epochs: config.epochs,
          tau,
          expectedMacs: await expectedMacsAt(setup, tau),
          argmax: costReport(setup.graph, await space.choice()).small!,
          groups,
          trainLoss: (pos.totals['loss'] ?? 0) / Math.max(pos.totals['steps'] ?? 0, 1),
          val: { full: val.full!, small: val.small! },
          seconds: trainSeconds + (performance.now() - evalStart) / 1000,
        };
        emit(event);
      },
    });
    if (loop.status === 'cancelled') {
      emit({ type: 'cancelled', time: now(), epoch: pos.epoch + 1, step: pos.step, checkpoint: loop.checkpoint });
      return { status: 'cancelled', checkpoint: loop.checkpoint };
    }
    const alphas = await space.choice();
    const report = costReport(setup.graph, alphas);
    const result: SearchResultEvent = {
      type: 'search-result',
      time: now(),
      alphas,
      cost: { full: report.full, small: report.small! },
      groups: await space.report(tauAt(config.tau, config.epochs - 1)),
      history: extra.history,
      seconds: pos.elapsedSeconds,
    };
    if (outDir !== null) writeFileSync(join(outDir, 'search.json'), JSON.stringify({ config, data: info, ...result }, null, 2));
    emit(result);
    return { status: 'finished', alphas, cost: result.cost };
  } catch (e) {
    const failure = describeFailure(e, pos);
    emit({ type: 'failed', time: now(), ...failure, checkpoint: ckptPath !== null && existsSync(ckptPath) ? ckptPath : null });
    return { status: 'failed', reason: failure.reason, message: failure.error.message };
  } finally {
    await replicas?.stop();
    setup.params.dispose();
    setup.optimizer.dispose();
    setup.archOptimizer.dispose();
    space.dispose();
  }
}
