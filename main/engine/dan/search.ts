import * as tf from '@tensorflow/tfjs';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { searchConfig as decodeSearchConfig } from '../../../shared/config-codecs.js';
import {
  budgetPenalty,
  entropy,
  etaLearningRate,
  FLAT_ENTROPY_SHARE,
  type SearchConfig,
  type SearchPhase,
  searchPlan,
  type SearchPlan,
  tauAtStep,
  warmupSteps,
} from '../../../shared/dan.js';
import { arr, type Decoder, int, nullable, num, obj, optional, record } from '../../../shared/decode.js';
import { assertNever, InputError } from '../../../shared/errors.js';
import { RUN_FILES } from '../../../shared/run-files.js';
import type { DataInfo, EngineEvent, PathMetrics, SearchEpochEvent, SearchResultEvent } from '../../../shared/events.js';
import type { GroupChoice } from '../../../shared/dan.js';
import { costReport, type Cost } from '../../../shared/model/cost.js';
import { buildGraph, type ModelGraph } from '../../../shared/model/graph.js';
import { lambdaAt, ratesAt, type StepRates } from '../../../shared/schedules.js';
import { BatchBuilder, normalizationFor, type Normalization } from '../data/batches.js';
import type { ImageSplit, TrainingData } from '../data/types.js';
import { evaluate } from '../evaluate.js';
import { forward } from '../forward.js';
import { adjoinedLoss, crossEntropy, klDivergence } from '../loss.js';
import type { CheckpointState } from '../checkpoint.js';
import { addTo, type EpochTotals, type LoopPosition, type StepTiming } from '../loop.js';
import { Optimizer } from '../optim.js';
import { createParams, type NetworkParams } from '../params.js';
import type { Rng } from '../rng.js';
import { runSession, type RunOutcome, type SessionOptions } from '../run/session.js';
import { stepPlace, type LoopContext, type RunStreams, type RunTask, type StartContext, type TaskCheckpoint, type TaskDefinition } from '../run/task.js';
import { expectedMacs, propagateMasks } from '../soft-masks.js';
import { optimizationStep, type Shard } from '../step.js';
import { shardedStep } from '../parallel/replicas.js';
import { dataInfo } from '../train.js';
import { budgetPenaltyTensor } from './budget.js';
import { EtaBatches, splitHeldOut } from './held-out.js';
import { projectOntoBudget, type Projection } from './projection.js';
import { SearchSpace } from './search-space.js';

/** Images of the held-out subset on which the projection compares candidates. */
const PROJECTION_IMAGES = 256;

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
  /** The images the weights train on (all training images unless some are held out). */
  train: ImageSplit;
  /** The images η learns from, disjoint from `train`; null when the search holds none out. */
  heldOut: ImageSplit | null;
  val: ImageSplit;
  plan: SearchPlan;
  stepsPerEpoch: number;
  totalSteps: number;
  warmupSteps: number;
  /** η's Adam learning rate. */
  etaLr: number;
}

/** The super-network, its η and both optimizers: all a search step needs (a data-parallel replica builds only this). */
export function searchStepSetupFor(config: SearchConfig, graph: ModelGraph, space: SearchSpace, initRng: Rng): SearchStepSetup {
  return {
    config,
    graph,
    space,
    params: createParams(graph, space.plan, initRng),
    optimizer: new Optimizer(config.optimizer),
    archOptimizer: new Optimizer({ kind: 'adam', lr: config.archLr, beta1: searchPlan(config).archBeta1, beta2: 0.999, epsilon: 1e-8, weightDecay: 0 }),
    fullMacs: costReport(graph).full.macs,
  };
}

/** `splitRng` draws the held-out split; a search that holds images out needs it. */
export function prepareSearch(config: SearchConfig, data: TrainingData, initRng: Rng, splitRng: Rng | null = null): SearchSetup {
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
  const plan = searchPlan(config);
  let train = data.train;
  let heldOut: ImageSplit | null = null;
  if (plan.heldOut > 0) {
    if (splitRng === null) throw new Error('a search that holds images out needs a generator for the split');
    try {
      ({ weights: train, heldOut } = splitHeldOut(data.train, plan.heldOut, splitRng, data.height * data.width * data.channels));
    } catch (e) {
      throw new InputError((e as Error).message, 'heldOut');
    }
  }
  // The normalisation is the whole training split's, as a training run's: the held-out images are training images.
  const norm = normalizationFor(config.augmentation, data, config.model.channels);
  const stepsPerEpoch = Math.ceil(train.count / config.batchSize);
  const totalSteps = stepsPerEpoch * config.epochs;
  return {
    ...searchStepSetupFor(config, graph, space, initRng),
    norm,
    batches: new BatchBuilder(data, config.model.inputSize, config.model.channels, norm, config.augmentation),
    train,
    heldOut,
    val: data.val,
    plan,
    stepsPerEpoch,
    totalSteps,
    warmupSteps: warmupSteps(config, totalSteps),
    etaLr: etaLearningRate(config, totalSteps),
  };
}

export interface SearchStepResult {
  loss: number;
  ce: number;
  kl: number;
  /** n_f of this step. */
  flops: number;
  /** The budget penalty on noise-free expected MACs (0 without a budget). */
  penalty: number;
}

export interface SearchStepOptions {
  /** Default `joint`, the paper's step. */
  phase?: SearchPhase;
  /** η's learning rate; default the config's `archLr`. */
  etaLr?: number;
}

/**
 * One step on the super-network: the small path runs one convolution per
 * layer at the widest candidate and scales channels by the soft masks.
 *
 * `joint` (the paper): CE(p) + λ(t)·(c·KL(p‖q) + γ·n_f) + β·CE(q), or with
 * a budget the penalty in place of γ·n_f; weights and η both move.
 * `weights`: the adjoined loss CE(p) + c·λ(t)·KL(p‖q) + β·CE(q), no cost
 * term; only the weights move. `eta`: KL(p‖q) + β·CE(y, q) + the budget
 * penalty on a held-out batch; only η moves, and the batch-norm running
 * statistics do not (the held-out images must not leak into them).
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
  options: SearchStepOptions = {},
): Promise<SearchStepResult> {
  const { config, graph, space, params } = setup;
  const phase = options.phase ?? 'joint';
  const etaLr = options.etaLr ?? config.archLr;
  const budget = config.budget ?? null;
  const lambda = lambdaAt(config.loss.lambda, progress);
  let ce: tf.Scalar | null = null;
  let kl: tf.Scalar | null = null;
  let flops: tf.Scalar | null = null;
  let penalty: tf.Scalar | null = null;
  const etas = space.etaVariables();
  const variables = phase === 'joint' ? new Map([...params.trainable, ...etas]) : phase === 'weights' ? params.trainable : etas;
  return await optimizationStep(
    params,
    variables,
    ({ keep, track }) => {
      const { masks } = space.softMasks(tau, noise);
      const out = forward(graph, params, x, { training: true, small: { kind: 'masked', plan: space.plan, masks } });
      if (phase !== 'eta') track(out);
      const terms = adjoinedLoss(y, out.full!, out.small!, { lambda, c: config.loss.c, beta: config.loss.smallCe });
      ce = keep(terms.ce);
      kl = keep(terms.kl);
      flops = keep(tf.div(expectedMacs(graph, space.plan, out.masks), setup.fullMacs) as tf.Scalar);
      if (budget !== null) {
        // The penalty reads the noise-free distribution: the budget is on what the search would pick, not on this step's draw.
        const { masks: clean } = space.softMasks(tau, null);
        penalty = keep(budgetPenaltyTensor(expectedMacs(graph, space.plan, propagateMasks(graph, space.plan, clean)), budget));
      }
      switch (phase) {
        case 'joint':
          return tf.add(terms.total, penalty ?? tf.mul(flops, lambda * config.gamma)) as tf.Scalar;
        case 'weights':
          return terms.total;
        case 'eta': {
          const accuracy = config.loss.smallCe === 0 ? terms.kl : tf.add(terms.kl, tf.mul(crossEntropy(y, out.small!), config.loss.smallCe));
          return (penalty === null ? accuracy : tf.add(accuracy, penalty)) as tf.Scalar;
        }
        default:
          return assertNever(phase, 'search phase');
      }
    },
    phase === 'eta' ? etaLr : rates.lr,
    ({ loss, grads, read }) => {
      const weightGrads: tf.NamedTensorMap = {};
      const etaGrads: tf.NamedTensorMap = {};
      for (const [name, g] of Object.entries(grads)) (name.startsWith('eta/') ? etaGrads : weightGrads)[name] = g;
      if (phase !== 'eta') setup.optimizer.apply(params.trainable, weightGrads, rates);
      if (phase !== 'weights') setup.archOptimizer.apply(etas, etaGrads, { lr: etaLr, momentum: null });
      return { loss, ce: read(ce)!, kl: read(kl)!, flops: read(flops)!, penalty: read(penalty) ?? 0 };
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

/** What a search keeps in its checkpoint besides weights: the fixed noise, the choices so far, η's optimizer steps and where its batches stand. */
interface SearchExtra {
  noise: Record<string, number[]> | null;
  history: SearchResultEvent['history'];
  archOptimizerSteps: number;
  /** Absent in checkpoints of searches that hold nothing out (and of those written before issue 15). */
  etaOrder?: { rng: [number, number, number, number]; position: number };
}

const rngState: Decoder<[number, number, number, number]> = (v, path) => {
  const a = arr(int)(v, path);
  if (a.length !== 4) throw new InputError(`${path}: a generator state has four numbers, got ${a.length}`, 'checkpoint');
  return [a[0]!, a[1]!, a[2]!, a[3]!];
};

const searchExtra: Decoder<SearchExtra> = obj({
  noise: nullable(record(arr(num))),
  history: arr(obj({ epoch: int, tau: num, probabilities: record(arr(num)) })),
  archOptimizerSteps: int,
  etaOrder: optional(obj({ rng: rngState, position: int })),
});

type SearchStepReport = SearchStepResult & { lr: number; tau: number; etaLoss: number | null };

/** The DAN search as the run session drives it: weights and η move together; each epoch reports every group's choice. */
class SearchTask implements RunTask<SearchStepReport, SearchResult, EngineEvent> {
  private readonly setup: SearchSetup;
  private readonly space: SearchSpace;
  private readonly info: DataInfo;
  private readonly noiseRng: Rng;
  /** The η steps' batches over the held-out images; null when none are held out. */
  private readonly etaBatches: EtaBatches | null;
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
    // After the session's own streams (weights, order, augmentation): the noise,
    // then the held-out split and the η batches' order, always in this order
    // so a resumed search draws the same.
    this.noiseRng = streams.root.fork();
    const splitRng = streams.root.fork();
    const etaOrderRng = streams.root.fork();
    const setup = prepareSearch(config, data, streams.init, splitRng);
    this.etaBatches = setup.heldOut === null ? null : new EtaBatches(setup.heldOut.count, etaOrderRng);
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
    if (this.etaBatches !== null && this.extra.etaOrder !== undefined) this.etaBatches.restore(this.extra.etaOrder);
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
      feasible: this.feasible(),
      target: this.setup.plan.budget?.targetMacs ?? null,
      heldOut: this.setup.heldOut?.count ?? 0,
      warmupSteps: this.setup.warmupSteps,
      totalSteps: this.totalSteps,
      stepsPerEpoch: this.stepsPerEpoch,
      resumedFrom,
    };
  }

  /** Small-network MACs with every group at its largest α and at its smallest. */
  private feasible(): { min: number; max: number } {
    const { graph } = this.setup;
    const macsAt = (alpha: number): number => costReport(graph, alpha).small!.macs;
    return { min: macsAt(Math.max(...this.config.space)), max: macsAt(Math.min(...this.config.space)) };
  }

  /**
   * The weight step on a training batch; then, once the warm-up is over,
   * an alternating search's η step on a held-out batch (each on every
   * engine with its shard, so the replicas stay in step).
   */
  async step(indices: Int32Array, progress: number, { pos, replicas }: LoopContext): Promise<SearchStepReport> {
    const { setup, config, space } = this;
    const { inputSize, channels } = config.model;
    const image: [number, number, number] = [inputSize, inputSize, channels];
    const batch = setup.batches.build(setup.train, indices, true, pos.augment);
    const rates = ratesAt(config.schedule, config.optimizer.lr, pos.globalStep, this.totalSteps);
    const tau = tauAtStep(config, pos.globalStep, this.totalSteps, pos.epoch);
    const noise = this.fixedNoise ?? space.drawNoise(pos.augment);
    const warming = pos.globalStep < setup.warmupSteps;
    const phase: SearchPhase = warming || this.etaBatches !== null ? 'weights' : 'joint';
    const { etaLr } = setup;
    const shared = { progress, tau, noise: [...noise], etaLr };
    const weights = await shardedStep(replicas, batch, indices.length, image, { ...shared, rates, phase }, (x, y, shard) =>
      searchStep(setup, x, y, progress, rates, tau, noise, shard, { phase, etaLr }),
    );
    let etaLoss: number | null = null;
    let penalty = weights.penalty;
    if (this.etaBatches !== null && setup.heldOut !== null && !warming) {
      const heldIndices = this.etaBatches.next(config.batchSize);
      const held = setup.batches.build(setup.heldOut, heldIndices, false, null);
      const etaRates = { lr: etaLr, momentum: null };
      const eta = await shardedStep(replicas, held, heldIndices.length, image, { ...shared, rates: etaRates, phase: 'eta' }, (x, y, shard) =>
        searchStep(setup, x, y, progress, etaRates, tau, noise, shard, { phase: 'eta', etaLr }),
      );
      etaLoss = eta.loss;
      penalty = eta.penalty;
    }
    return { ...weights, penalty, etaLoss, lr: rates.lr, tau };
  }

  accumulate(totals: EpochTotals, r: SearchStepReport): void {
    addTo(totals, 'loss', r.loss);
    addTo(totals, 'steps', 1);
  }

  stepEvent(r: SearchStepReport, timing: StepTiming, pos: LoopPosition, time: number): EngineEvent {
    return {
      type: 'search-step',
      ...stepPlace(this, timing, pos, time),
      loss: r.loss,
      ce: r.ce,
      kl: r.kl,
      flops: r.flops,
      lambda: lambdaAt(this.config.loss.lambda, timing.progress),
      lr: r.lr,
      tau: r.tau,
      penalty: r.penalty,
      etaLoss: r.etaLoss,
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

  /** τ of the last step taken (by epoch in the paper's schedule). */
  private tauNow(pos: Pick<LoopPosition, 'globalStep' | 'epoch'>): number {
    return tauAtStep(this.config, Math.max(0, pos.globalStep - 1), this.totalSteps, pos.epoch);
  }

  async endEpoch(trainSeconds: number, { pos, replicas }: LoopContext, time: number): Promise<SearchEpochEvent> {
    const evalStart = performance.now();
    const tau = this.tauNow(pos);
    const val = await this.validate(tau, replicas);
    const groups = await this.space.report(tau);
    this.extra.history.push({ epoch: pos.epoch + 1, tau, probabilities: Object.fromEntries(groups.map((g) => [g.group, g.probabilities])) });
    const expected = await expectedMacsAt(this.setup, tau);
    const { budget } = this.setup.plan;
    return {
      type: 'search-epoch',
      time,
      epoch: pos.epoch + 1,
      epochs: this.epochs,
      tau,
      expectedMacs: expected,
      target: budget?.targetMacs ?? null,
      penalty: budget === null ? 0 : budgetPenalty(expected, budget),
      entropies: Object.fromEntries(groups.map((g) => [g.group, entropy(g.probabilities)])),
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
    if (this.etaBatches !== null) this.extra.etaOrder = this.etaBatches.state();
    return {
      history: [],
      extra: this.extra,
      extraTensors: new Map<string, tf.Tensor>([...this.space.etaVariables(), ...[...state.slots].map(([k, v]) => [`arch/${k}`, v] as const)]),
    };
  }

  /**
   * KL(p‖q) of a hard-masked candidate on a fixed held-out subset (the
   * training images when none are held out), in training mode: batch
   * statistics, as the η steps saw them, and no running statistics moved.
   */
  private async klOf(alphas: Readonly<Record<string, number>>): Promise<number> {
    const { setup, space } = this;
    const source = setup.heldOut ?? setup.train;
    const n = Math.min(PROJECTION_IMAGES, source.count);
    const chunk = Math.max(2, this.config.batchSize);
    const { inputSize, channels } = this.config.model;
    let total = 0;
    for (let start = 0; start < n; start += chunk) {
      const indices = Int32Array.from({ length: Math.min(chunk, n - start) }, (_, i) => start + i);
      const b = setup.batches.build(source, indices, false, null);
      const kl = tf.tidy(() => {
        const masks = new Map(
          space.groups.map((g) => {
            const row = space.alphas.indexOf(alphas[g.group] ?? NaN);
            if (row < 0) throw new Error(`α ${alphas[g.group]} of ${g.group} is not in the search space`);
            return [g.group, tf.reshape(tf.slice(g.candidates, [row, 0], [1, -1]), [-1]) as tf.Tensor1D];
          }),
        );
        const x = tf.tensor4d(b.x, [indices.length, inputSize, inputSize, channels]);
        const out = forward(setup.graph, setup.params, x, { training: true, small: { kind: 'masked', plan: space.plan, masks } });
        return tf.mul(klDivergence(out.full!, out.small!), indices.length) as tf.Scalar;
      });
      total += (await kl.data())[0]!;
      kl.dispose();
    }
    return total / n;
  }

  /** Groups whose distribution is still nearly uniform at the end of the search. */
  private flatWarning(groups: GroupChoice[]): string | null {
    const limit = FLAT_ENTROPY_SHARE * Math.log(this.config.space.length);
    const flat = groups.filter((g) => entropy(g.probabilities) > limit).map((g) => g.group);
    if (flat.length === 0) return null;
    return `the width distributions of ${flat.length} of ${groups.length} groups are still flat at the end (entropy > ${FLAT_ENTROPY_SHARE}·log ${this.config.space.length}): ${flat.join(', ')}; their argmax is decided by small differences — search longer or end with a lower τ`;
  }

  async finish({ pos }: LoopContext, outDir: string | null, now: () => number): Promise<{ events: EngineEvent[]; result: SearchResult }> {
    const argmaxAlphas = await this.space.choice();
    const graph = this.setup.graph;
    const groups = await this.space.report(tauAtStep(this.config, this.totalSteps - 1, this.totalSteps, this.epochs - 1));
    const warnings: string[] = [];
    const flat = this.flatWarning(groups);
    if (flat !== null) warnings.push(flat);
    const { budget } = this.setup.plan;
    let projection: Projection | null = null;
    if (budget !== null) {
      projection = await projectOntoBudget({
        start: argmaxAlphas,
        space: this.config.space,
        target: budget.targetMacs,
        tolerance: budget.tolerance,
        macsOf: (a) => costReport(graph, a).small!.macs,
        klOf: (a) => this.klOf(a),
      });
      if (!projection.withinBand) {
        const off = ((projection.macs / budget.targetMacs - 1) * 100).toFixed(1);
        warnings.push(
          `no configuration of this space within ±${(budget.tolerance * 100).toFixed(0)} % of ${budget.targetMacs} MACs was reached from the argmax; the closest found, ${projection.macs} MACs (${off} %), is taken`,
        );
      }
    }
    const alphas = projection?.alphas ?? argmaxAlphas;
    const report = costReport(graph, alphas);
    const result: SearchResultEvent = {
      type: 'search-result',
      time: now(),
      alphas,
      cost: { full: report.full, small: report.small! },
      argmax: { alphas: argmaxAlphas, cost: costReport(graph, argmaxAlphas).small! },
      projection:
        projection === null || budget === null
          ? null
          : { target: budget.targetMacs, tolerance: budget.tolerance, withinBand: projection.withinBand, moves: projection.moves },
      warnings,
      groups,
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
