import * as tf from '@tensorflow/tfjs';
import type { ModelGraph } from '../../shared/model/graph.js';
import type { SmallPlan } from '../../shared/model/plan.js';
import { count } from '../../shared/model/selection.js';
import { adjoinWeights, type WeightSlice } from './adjoined-weights.js';
import { fusedUpdatesAvailable, runningStatsUpdate } from './fused-updates.js';
import { fusionPlan } from './fusion.js';
import { engineOp, type RunArgs } from './ops.js';
import { type NetworkParams, type Path, paramName } from './params.js';
import { sliceWeight } from './slicing.js';
import { propagateMasks } from './soft-masks.js';

export { BN_EPSILON } from './ops.js';
export { sliceChannels, sliceWeight } from './slicing.js';

/**
 * How the small path runs.
 * - `sliced`: on the leading rows/columns of the shared weights — a really
 *   narrow network (AN).
 * - `masked`: at the plan's width with a soft channel mask per width group
 *   applied after each batch norm — the DAN super-network, one convolution per
 *   layer whatever the number of candidates.
 */
export type SmallPathSpec = { kind: 'sliced'; plan: SmallPlan } | { kind: 'masked'; plan: SmallPlan; masks: ReadonlyMap<string, tf.Tensor1D> };

export interface ForwardOptions {
  /** Batch statistics (true) or running statistics (false) in batch norms. */
  training: boolean;
  /** Compute the full path (false: small path only, e.g. for evaluation of the small network). */
  full?: boolean;
  small?: SmallPathSpec | null;
}

/** One batch norm's batch statistics, for the running averages after the step. */
export interface BatchStats {
  layer: string;
  path: Path;
  mean: tf.Tensor1D;
  variance: tf.Tensor1D;
  count: number;
}

export interface ForwardResult {
  full: tf.Tensor2D | null;
  small: tf.Tensor2D | null;
  /** Expected channel count of the small path's logits input, etc.: see `expectedMacs`. */
  stats: BatchStats[];
  /** Soft masks of the small path's tensors (masked mode only), per node. */
  masks: ReadonlyArray<tf.Tensor1D | null>;
}

/**
 * Runs a network graph on a batch: the full path and/or the small path. In
 * training mode, batch norms use batch statistics and report them in `stats`.
 * Call inside `tf.tidy` or a gradient function.
 */
export function forward(graph: ModelGraph, params: NetworkParams, input: tf.Tensor4D, options: ForwardOptions): ForwardResult {
  const { training } = options;
  const doFull = options.full ?? true;
  const small = options.small ?? null;
  const stats: BatchStats[] = [];
  const full: Array<tf.Tensor | null> = []; // null: not computed (path off, or deferred into a fused kernel)
  const sm: Array<tf.Tensor | null> = [];
  const masks: Array<tf.Tensor1D | null> = [];
  const sel = small?.plan.sel ?? null;
  const { weights, sliced } =
    small?.kind === 'sliced' ? adjoinedWeights(graph, params, small.plan) : { weights: new Map<string, tf.Tensor>(), sliced: new Map<string, tf.Tensor>() };
  const weight = (name: string): tf.Tensor => {
    let w = weights.get(name);
    if (w === undefined) {
      w = params.get(name);
      weights.set(name, w);
    }
    return w;
  };
  const slicedWeight = (name: string, slice: WeightSlice): tf.Tensor => sliced.get(name) ?? sliceWeight(weight(name), slice.rows, slice.cols);
  const fusion = fusionPlan(graph);
  const argsFor = (path: Path, node: { name: string }): RunArgs => {
    const t = path === 'full' ? full : sm;
    return {
      graph,
      path,
      batch: input,
      value: (i) => {
        const v = t[i];
        if (v == null) throw new Error(`${node.name} reads ${graph.nodes[i]!.name}, which was not computed`);
        return v;
      },
      selection: (i) => {
        const s = sel?.[i];
        if (s === undefined) throw new Error(`${node.name}: no small path runs, so node ${i} has no selection`);
        return s;
      },
      sharedWithFull: (n) => (full[n.input] === sm[n.input] ? (full[n.id] ?? null) : null),
      params,
      weight,
      slicedWeight,
      training,
      stats,
      masks,
      fusion,
    };
  };

  if (small?.kind === 'masked') masks.push(...propagateMasks(graph, small.plan, small.masks));
  for (const node of graph.nodes) {
    const op = engineOp(node);
    full.push(doFull ? op.run(node, argsFor('full', node)) : null);
    sm.push(small !== null ? op.run(node, argsFor('small', node)) : null);
  }
  return {
    full: doFull ? (full[graph.output] as tf.Tensor2D) : null,
    small: small !== null ? (sm[graph.output] as tf.Tensor2D) : null,
    stats,
    masks,
  };
}

/**
 * Every weight the sliced small path reads a slice of, as both paths read it,
 * from one op (adjoined-weights.ts): by name, the full path's weights and
 * the small path's slices. A weight the small path reads whole is not there.
 */
function adjoinedWeights(graph: ModelGraph, params: NetworkParams, plan: SmallPlan): { weights: Map<string, tf.Tensor>; sliced: Map<string, tf.Tensor> } {
  const wanted: Array<{ name: string; slice: WeightSlice; w: tf.Tensor }> = [];
  for (const node of graph.nodes) {
    const sw = engineOp(node).smallWeight(node, plan.sel);
    if (sw === null) continue;
    const w = params.get(sw.name);
    const r = w.rank;
    if (count(sw.slice.rows) === w.shape[r - 2] && sw.slice.cols === w.shape[r - 1]) continue;
    wanted.push({ ...sw, w });
  }
  const out = adjoinWeights(
    wanted.map((x) => x.w),
    wanted.map((x) => x.slice),
  );
  const weights = new Map<string, tf.Tensor>();
  const sliced = new Map<string, tf.Tensor>();
  wanted.forEach((x, i) => {
    weights.set(x.name, out.full[i]!);
    sliced.set(x.name, out.small[i]!);
  });
  return { weights, sliced };
}

/**
 * Moves running statistics toward the batch statistics as PyTorch does
 * (momentum 0.1, unbiased variance), after a training step: every batch
 * norm's in one kernel call where the backend has the fused update.
 */
export function updateRunningStats(params: NetworkParams, stats: readonly BatchStats[], momentum = 0.1, { fused = true }: { fused?: boolean } = {}): void {
  if (stats.length === 0) return;
  const unbiased = (s: BatchStats): number => (s.count > 1 ? s.count / (s.count - 1) : 1);
  // A batch norm listed twice moves twice, one move after the other: the composed ops do that.
  const once = new Set(stats.map((s) => paramName.mean(s.layer, s.path))).size === stats.length;
  if (fused && once && fusedUpdatesAvailable()) {
    tf.tidy(() => {
      const items = stats.map((s) => ({
        mean: params.get(paramName.mean(s.layer, s.path)),
        variance: params.get(paramName.variance(s.layer, s.path)),
        batchMean: s.mean,
        batchVariance: s.variance,
        unbiased: unbiased(s),
      }));
      const out = runningStatsUpdate(items, momentum);
      items.forEach((it, i) => {
        it.mean.assign(out.means[i]!);
        it.variance.assign(out.variances[i]!);
      });
    });
    return;
  }
  tf.tidy(() => {
    for (const s of stats) {
      const rm = params.get(paramName.mean(s.layer, s.path));
      const rv = params.get(paramName.variance(s.layer, s.path));
      rm.assign(tf.add(tf.mul(rm, 1 - momentum), tf.mul(s.mean, momentum)));
      rv.assign(tf.add(tf.mul(rv, 1 - momentum), tf.mul(s.variance, momentum * unbiased(s))));
    }
  });
}
