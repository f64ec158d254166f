import * as tf from '@tensorflow/tfjs';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { searchConfig as decodeSearchConfig } from '../../../shared/config-codecs.js';
import { type SearchConfig, tauAt } from '../../../shared/dan.js';
import { arr, type Decoder, int, nullable, num, obj, record } from '../../../shared/decode.js';
import { InputError } from '../../../shared/errors.js';
import { RUN_FILES } from '../../../shared/run-files.js';
import type { EngineEvent, SearchEpochEvent, SearchResultEvent } from '../../../shared/events.js';
import { costReport, type Cost } from '../../../shared/model/cost.js';
import { buildGraph, type ModelGraph } from '../../../shared/model/graph.js';
import { lambdaAt, lrAt } from '../../../shared/schedules.js';
import { BatchBuilder, normalizationFor, type Normalization } from '../data/batches.js';
import type { ImageSplit, TrainingData } from '../data/types.js';
import { evaluate } from '../evaluate.js';
import { forward } from '../forward.js';
import { adjoinedLoss } from '../loss.js';
import { addTo } from '../loop.js';
import { Optimizer } from '../optim.js';
import { createParams, type NetworkParams } from '../params.js';
import type { Rng } from '../rng.js';
import { runSession, type RunOutcome, type SessionOptions } from '../run/session.js';
import type { RunStreams, RunTask, TaskDefinition } from '../run/task.js';
import { expectedMacs, propagateMasks } from '../soft-masks.js';
import { optimizationStep, type Shard } from '../step.js';
import { shardedStep } from '../parallel/replicas.js';
import { dataInfo } from '../train.js';
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
export function searchStep(
  setup: SearchStepSetup,
  x: tf.Tensor4D,
  y: tf.Tensor1D,
  progress: number,
  lr: number,
  tau: number,
  noise: ReadonlyMap<string, Float32Array> | null,
  shard: Shard | null = null,
): SearchStepResult {
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
export function expectedMacsAt(setup: SearchSetup, tau: number): number {
  return tf.tidy(() => {
    const { masks } = setup.space.softMasks(tau, null);
    return expectedMacs(setup.graph, setup.space.plan, propagateMasks(setup.graph, setup.space.plan, masks)).dataSync()[0]!;
  });
}

export type SearchOptions = SessionOptions<EngineEvent> & { config: SearchConfig };

/** What a finished search hands back: an α per width group and what it costs. */
export interface SearchResult {
  alphas: Record<string, number>;
  cost: { full: Cost; small: Cost };
}

export type SearchOutcome = RunOutcome<SearchResult>;

/** What a search keeps in its checkpoint besides weights: the fixed noise, the choices so far and η's optimizer steps. */
interface SearchExtra {
  noise: Record<string, number[]> | null;
  history: SearchResultEvent['history'];
  archOptimizerSteps: number;
}

const searchExtra: Decoder<SearchExtra> = obj({
  noise: nullable(record(arr(num))),
  history: arr(obj({ epoch: int, tau: num, probabilities: record(arr(num)) })),
  archOptimizerSteps: int,
});

type SearchStepReport = SearchStepResult & { lr: number; tau: number };

/** The DAN search as the run session drives it: weights and η move together; each epoch reports every group's choice. */
function searchTask(config: SearchConfig, data: TrainingData, streams: RunStreams): RunTask<SearchStepReport, SearchResult, EngineEvent> {
  // After the session's own streams (weights, order, augmentation): the noise.
  const noiseRng = streams.root.fork();
  const setup = prepareSearch(config, data, streams.init);
  const { space } = setup;
  const info = dataInfo(data, setup.norm);
  const { inputSize, channels } = config.model;
  let extra: SearchExtra = { noise: null, history: [], archOptimizerSteps: 0 };
  // The authors draw the noise once per layer and keep it; `fresh` redraws it every step.
  let fixedNoise: Map<string, Float32Array> | null = null;
  const keepNoise = (): void => {
    fixedNoise =
      config.noise === 'fixed'
        ? extra.noise !== null
          ? new Map(Object.entries(extra.noise).map(([k, v]) => [k, Float32Array.from(v)]))
          : space.drawNoise(noiseRng)
        : null;
    extra.noise = fixedNoise === null ? null : Object.fromEntries([...fixedNoise].map(([k, v]) => [k, Array.from(v)]));
  };
  keepNoise();
  return {
    epochs: config.epochs,
    batchSize: config.batchSize,
    checkpointEvery: config.checkpointEvery,
    stepsPerEpoch: setup.stepsPerEpoch,
    totalSteps: setup.totalSteps,
    trainCount: setup.train.count,
    params: setup.params,
    optimizer: setup.optimizer,
    replica: {
      task: { kind: 'search', config },
      variables: new Map([...setup.params.all(), ...space.etaVariables()]),
      optimizers: [setup.optimizer, setup.archOptimizer],
      imageSize: inputSize * inputSize * channels,
    },
    dataInfo: () => info,
    restore: (checkpoint) => {
      extra = searchExtra(checkpoint.extra, `${checkpoint.path}: search state`);
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
      keepNoise();
    },
    started: ({ time, backend, data: d, resumedFrom }) => ({
      type: 'search-started',
      time,
      backend,
      config,
      data: d,
      groups: space.groups.map((g) => ({ group: g.group, channels: g.channels })),
      full: costReport(setup.graph).full,
      totalSteps: setup.totalSteps,
      stepsPerEpoch: setup.stepsPerEpoch,
      resumedFrom,
    }),
    step: (indices, progress, { pos, replicas }) => {
      const batch = setup.batches.build(setup.train, indices, true, pos.augment);
      const lr = lrAt(config.schedule, config.optimizer.lr, progress);
      const tau = tauAt(config.tau, pos.epoch);
      const noise = fixedNoise ?? space.drawNoise(pos.augment);
      return shardedStep(replicas, batch, indices.length, [inputSize, inputSize, channels], { progress, lr, tau, noise: [...noise] }, (x, y, shard) => ({
        ...searchStep(setup, x, y, progress, lr, tau, noise, shard),
        lr,
        tau,
      }));
    },
    accumulate: (totals, r) => {
      addTo(totals, 'loss', r.loss);
      addTo(totals, 'steps', 1);
    },
    stepEvent: (r, timing, pos, time) => ({
      type: 'search-step',
      time,
      epoch: pos.epoch + 1,
      step: pos.step,
      stepsPerEpoch: setup.stepsPerEpoch,
      globalStep: pos.globalStep,
      totalSteps: setup.totalSteps,
      progress: pos.globalStep / setup.totalSteps,
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
    endEpoch: (trainSeconds, { pos, replicas }, time): SearchEpochEvent => {
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
        val = evaluate({ graph: setup.graph, params: setup.params, plan: null, batches: setup.batches, config }, setup.val, {
          confusion: false,
          small: { kind: 'masked', plan: space.plan, masks: soft },
          softTau: tau,
          sharding: replicas?.evaluation() ?? null,
        });
      } finally {
        tf.dispose([...soft.values()]);
      }
      const groups = space.report(tau);
      extra.history.push({ epoch: pos.epoch + 1, tau, probabilities: Object.fromEntries(groups.map((g) => [g.group, g.probabilities])) });
      return {
        type: 'search-epoch',
        time,
        epoch: pos.epoch + 1,
        epochs: config.epochs,
        tau,
        expectedMacs: expectedMacsAt(setup, tau),
        argmax: costReport(setup.graph, space.choice()).small!,
        groups,
        trainLoss: (pos.totals['loss'] ?? 0) / Math.max(pos.totals['steps'] ?? 0, 1),
        val: { full: val.full!, small: val.small! },
        seconds: trainSeconds + (performance.now() - evalStart) / 1000,
      };
    },
    checkpoint: () => {
      const state = setup.archOptimizer.state();
      extra.archOptimizerSteps = state.steps;
      return {
        history: [],
        extra,
        extraTensors: new Map<string, tf.Tensor>([...space.etaVariables(), ...[...state.slots].map(([k, v]) => [`arch/${k}`, v] as const)]),
      };
    },
    finish: async ({ pos }, outDir, now) => {
      const alphas = space.choice();
      const report = costReport(setup.graph, alphas);
      const result: SearchResultEvent = {
        type: 'search-result',
        time: now(),
        alphas,
        cost: { full: report.full, small: report.small! },
        groups: space.report(tauAt(config.tau, config.epochs - 1)),
        history: extra.history,
        seconds: pos.elapsedSeconds,
      };
      if (outDir !== null) writeFileSync(join(outDir, RUN_FILES.search), JSON.stringify({ config, data: info, ...result }, null, 2));
      return { events: [result], result: { alphas, cost: result.cost } };
    },
    dispose: () => {
      setup.params.dispose();
      setup.optimizer.dispose();
      setup.archOptimizer.dispose();
      space.dispose();
    },
  };
}

export const SEARCH: TaskDefinition<SearchConfig, SearchStepReport, SearchResult, EngineEvent> = {
  decodeConfig: decodeSearchConfig,
  prepare: searchTask,
};

/**
 * Searches per-group widths (paper section 5) and emits search-started,
 * search-step, search-epoch (the distribution g of every group, τ, expected
 * MACs), checkpoints, and finally search-result with the α map.
 */
export function search(options: SearchOptions): Promise<SearchOutcome> {
  return runSession(SEARCH, options.config, options);
}
