import * as tf from '@tensorflow/tfjs';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { searchConfig as decodeSearchConfig } from '../../../shared/config-codecs.js';
import { type SearchConfig, tauAt } from '../../../shared/dan.js';
import { arr, type Decoder, int, nullable, num, obj, record } from '../../../shared/decode.js';
import { InputError } from '../../../shared/errors.js';
import { RUN_FILES } from '../../../shared/run-files.js';
import type { DataInfo, EngineEvent, PathMetrics, SearchEpochEvent, SearchResultEvent } from '../../../shared/events.js';
import { costReport, type Cost } from '../../../shared/model/cost.js';
import { buildGraph, type ModelGraph } from '../../../shared/model/graph.js';
import { lambdaAt, ratesAt, type StepRates } from '../../../shared/schedules.js';
import { BatchBuilder, normalizationFor, type Normalization } from '../data/batches.js';
import type { ImageSplit, TrainingData } from '../data/types.js';
import { evaluate } from '../evaluate.js';
import { forward } from '../forward.js';
import { adjoinedLoss } from '../loss.js';
import type { CheckpointState } from '../checkpoint.js';
import { addTo, type EpochTotals, type LoopPosition, type StepTiming } from '../loop.js';
import { Optimizer } from '../optim.js';
import { createParams, type NetworkParams } from '../params.js';
import type { Rng } from '../rng.js';
import { runSession, type RunOutcome, type SessionOptions } from '../run/session.js';
import type { LoopContext, RunStreams, RunTask, StartContext, TaskCheckpoint, TaskDefinition } from '../run/task.js';
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
export async function searchStep(
  setup: SearchStepSetup,
  x: tf.Tensor4D,
  y: tf.Tensor1D,
  progress: number,
  rates: StepRates,
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
  return await optimizationStep(
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
    rates.lr,
    ({ loss, grads, read }) => {
      const weightGrads: tf.NamedTensorMap = {};
      const etaGrads: tf.NamedTensorMap = {};
      for (const [name, g] of Object.entries(grads)) (name.startsWith('eta/') ? etaGrads : weightGrads)[name] = g;
      setup.optimizer.apply(params.trainable, weightGrads, rates);
      setup.archOptimizer.apply(etas, etaGrads, { lr: config.archLr, momentum: null });
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
class SearchTask implements RunTask<SearchStepReport, SearchResult, EngineEvent> {
  private readonly setup: SearchSetup;
  private readonly space: SearchSpace;
  private readonly info: DataInfo;
  private readonly noiseRng: Rng;
  private extra: SearchExtra = { noise: null, history: [], archOptimizerSteps: 0 };
  /** The authors draw the noise once per layer and keep it; `fresh` redraws it every step. */
  private fixedNoise: Map<string, Float32Array> | null = null;
  readonly epochs: number;
  readonly batchSize: number;
  readonly checkpointEvery: number;
  readonly stepsPerEpoch: number;
  readonly totalSteps: number;
  readonly trainCount: number;
  readonly params: NetworkParams;
  readonly optimizer: Optimizer;
  readonly replica: RunTask<SearchStepReport, SearchResult, EngineEvent>['replica'];

  constructor(
    private readonly config: SearchConfig,
    data: TrainingData,
    streams: RunStreams,
  ) {
    // After the session's own streams (weights, order, augmentation): the noise.
    this.noiseRng = streams.root.fork();
    const setup = prepareSearch(config, data, streams.init);
    this.setup = setup;
    this.space = setup.space;
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
      task: { kind: 'search', config },
      variables: new Map([...setup.params.all(), ...this.space.etaVariables()]),
      optimizers: [setup.optimizer, setup.archOptimizer],
      imageSize: inputSize * inputSize * channels,
    };
    this.keepNoise();
  }

  private keepNoise(): void {
    const { extra } = this;
    this.fixedNoise =
      this.config.noise === 'fixed'
        ? extra.noise !== null
          ? new Map(Object.entries(extra.noise).map(([k, v]) => [k, Float32Array.from(v)]))
          : this.space.drawNoise(this.noiseRng)
        : null;
    extra.noise = this.fixedNoise === null ? null : Object.fromEntries([...this.fixedNoise].map(([k, v]) => [k, Array.from(v)]));
  }

  dataInfo(): DataInfo {
    return this.info;
  }

  restore(checkpoint: CheckpointState): void {
    this.extra = searchExtra(checkpoint.extra, `${checkpoint.path}: search state`);
    const slots = new Map<string, tf.Tensor>();
    for (const [name, t] of checkpoint.extraTensors) {
      const v = tf.tensor(t.data, t.shape, 'float32');
      if (name.startsWith('eta/')) {
        this.space.etaVariables().get(name)?.assign(v);
        v.dispose();
      } else slots.set(name.replace(/^arch\//, ''), v);
    }
    this.setup.archOptimizer.restore(this.extra.archOptimizerSteps, slots);
    tf.dispose([...slots.values()]);
    this.keepNoise();
  }

  started({ time, backend, data, resumedFrom }: StartContext): EngineEvent {
    return {
      type: 'search-started',
      time,
      backend,
      config: this.config,
      data,
      groups: this.space.groups.map((g) => ({ group: g.group, channels: g.channels })),
      full: costReport(this.setup.graph).full,
      totalSteps: this.totalSteps,
      stepsPerEpoch: this.stepsPerEpoch,
      resumedFrom,
    };
  }

  step(indices: Int32Array, progress: number, { pos, replicas }: LoopContext): Promise<SearchStepReport> {
    const { setup, config, space } = this;
    const { inputSize, channels } = config.model;
    const batch = setup.batches.build(setup.train, indices, true, pos.augment);
    const rates = ratesAt(config.schedule, config.optimizer.lr, pos.globalStep, this.totalSteps);
    const tau = tauAt(config.tau, pos.epoch);
    const noise = this.fixedNoise ?? space.drawNoise(pos.augment);
    return shardedStep(replicas, batch, indices.length, [inputSize, inputSize, channels], { progress, rates, tau, noise: [...noise] }, async (x, y, shard) => ({
      ...(await searchStep(setup, x, y, progress, rates, tau, noise, shard)),
      lr: rates.lr,
      tau,
    }));
  }

  accumulate(totals: EpochTotals, r: SearchStepReport): void {
    addTo(totals, 'loss', r.loss);
    addTo(totals, 'steps', 1);
  }

  stepEvent(r: SearchStepReport, timing: StepTiming, pos: LoopPosition, time: number): EngineEvent {
    return {
      type: 'search-step',
      time,
      epoch: pos.epoch + 1,
      step: pos.step,
      stepsPerEpoch: this.stepsPerEpoch,
      globalStep: pos.globalStep,
      totalSteps: this.totalSteps,
      progress: pos.globalStep / this.totalSteps,
      loss: r.loss,
      ce: r.ce,
      kl: r.kl,
      flops: r.flops,
      lambda: lambdaAt(this.config.loss.lambda, timing.progress),
      lr: r.lr,
      tau: r.tau,
      imagesPerSecond: timing.imagesPerSecond,
      etaSeconds: timing.etaSeconds,
    };
  }

  /**
   * The super-network as trained: its small path under the noise-free
   * mixture softmax(η/τ). (Hard argmax masks would meet batch-norm
   * statistics gathered under soft ones; the found network is judged by
   * training it.) Every engine builds the same soft masks from its
   * (identical) η and measures its shard.
   */
  private async validate(tau: number, replicas: LoopContext['replicas']): Promise<{ full: PathMetrics; small: PathMetrics }> {
    const { setup, space } = this;
    const soft = new Map<string, tf.Tensor1D>();
    tf.tidy(() => {
      for (const [group, m] of space.softMasks(tau, null).masks) soft.set(group, tf.keep(m));
    });
    try {
      const val = await evaluate({ graph: setup.graph, params: setup.params, plan: null, batches: setup.batches, config: this.config }, setup.val, {
        confusion: false,
        small: { kind: 'masked', plan: space.plan, masks: soft },
        softTau: tau,
        sharding: replicas?.evaluation() ?? null,
      });
      return { full: val.full!, small: val.small! };
    } finally {
      tf.dispose([...soft.values()]);
    }
  }

  async endEpoch(trainSeconds: number, { pos, replicas }: LoopContext, time: number): Promise<SearchEpochEvent> {
    const evalStart = performance.now();
    const tau = tauAt(this.config.tau, pos.epoch);
    const val = await this.validate(tau, replicas);
    const groups = await this.space.report(tau);
    this.extra.history.push({ epoch: pos.epoch + 1, tau, probabilities: Object.fromEntries(groups.map((g) => [g.group, g.probabilities])) });
    return {
      type: 'search-epoch',
      time,
      epoch: pos.epoch + 1,
      epochs: this.epochs,
      tau,
      expectedMacs: await expectedMacsAt(this.setup, tau),
      argmax: costReport(this.setup.graph, await this.space.choice()).small!,
      groups,
      trainLoss: (pos.totals['loss'] ?? 0) / Math.max(pos.totals['steps'] ?? 0, 1),
      val,
      seconds: trainSeconds + (performance.now() - evalStart) / 1000,
    };
  }

  checkpoint(): TaskCheckpoint {
    const state = this.setup.archOptimizer.state();
    this.extra.archOptimizerSteps = state.steps;
    return {
      history: [],
      extra: this.extra,
      extraTensors: new Map<string, tf.Tensor>([...this.space.etaVariables(), ...[...state.slots].map(([k, v]) => [`arch/${k}`, v] as const)]),
    };
  }

  async finish({ pos }: LoopContext, outDir: string | null, now: () => number): Promise<{ events: EngineEvent[]; result: SearchResult }> {
    const alphas = await this.space.choice();
    const report = costReport(this.setup.graph, alphas);
    const result: SearchResultEvent = {
      type: 'search-result',
      time: now(),
      alphas,
      cost: { full: report.full, small: report.small! },
      groups: await this.space.report(tauAt(this.config.tau, this.epochs - 1)),
      history: this.extra.history,
      seconds: pos.elapsedSeconds,
    };
    if (outDir !== null) writeFileSync(join(outDir, RUN_FILES.search), JSON.stringify({ config: this.config, data: this.info, ...result }, null, 2));
    return { events: [result], result: { alphas, cost: result.cost } };
  }

  dispose(): void {
    this.setup.params.dispose();
    this.setup.optimizer.dispose();
    this.setup.archOptimizer.dispose();
    this.space.dispose();
  }
}

export const SEARCH: TaskDefinition<SearchConfig, SearchStepReport, SearchResult, EngineEvent> = {
  decodeConfig: decodeSearchConfig,
  prepare: (config, data, streams) => new SearchTask(config, data, streams),
};

/**
 * Searches per-group widths (paper section 5) and emits search-started,
 * search-step, search-epoch (the distribution g of every group, τ, expected
 * MACs), checkpoints, and finally search-result with the α map.
 */
export function search(options: SearchOptions): Promise<SearchOutcome> {
  return runSession(SEARCH, options.config, options);
}
