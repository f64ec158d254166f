import * as tf from '@tensorflow/tfjs';
import { updateRunningStats, type BatchStats, type ForwardResult } from './forward.js';
import type { NetworkParams } from './params.js';
import { withReplicaGroup, type ReplicaGroup } from './parallel/replica-group.js';

/** A run that cannot go on; `reason` is what the store records. */
export class TrainingError extends Error {
  override readonly name = 'TrainingError';
  constructor(
    readonly reason: 'nan_loss' | 'error' | 'crashed',
    message: string,
  ) {
    super(message);
  }
}

/** What a loss function may do inside the gradient tape. */
export interface LossScope {
  /** Keeps a tensor (a loss term, a count) alive past the tape, to be read after the step. */
  keep<T extends tf.Tensor>(t: T): T;
  /** Records a forward pass's batch statistics for the running averages. */
  track(out: ForwardResult): void;
}

export interface Gradients {
  loss: number;
  /** Gradients by our parameter names. */
  grads: tf.NamedTensorMap;
  /** A kept batch mean (a loss term): over the whole batch, whichever shard computed it. */
  read(t: tf.Scalar | null): number | null;
  /** A kept batch sum (correct predictions): over the whole batch. */
  count(t: tf.Scalar | null): number | null;
}

/**
 * This engine's part of a data-parallel step: its replica group and the
 * share of the batch it holds. Each replica minimises share × (its shard's
 * mean loss), so the sum over replicas is the whole batch's mean loss and
 * the summed gradients are that loss's gradients.
 */
export interface Shard {
  group: ReplicaGroup;
  share: number;
}

/**
 * One optimisation step's bookkeeping: the loss and its gradients with
 * respect to `variables`, then `update`, then every tensor freed. The loss is
 * read before `update` runs, so a NaN/Inf loss leaves the weights as they
 * were (docs/RELIABILITY.md row 25). Running statistics move only after a
 * successful update. The loss and the kept scalars are read asynchronously,
 * all at once: a GPU backend (webgpu) cannot read its tensors synchronously.
 */
export async function optimizationStep<R>(
  params: NetworkParams,
  variables: ReadonlyMap<string, tf.Variable>,
  lossFn: (scope: LossScope) => tf.Scalar,
  lr: number,
  update: (g: Gradients) => R,
  shard: Shard | null = null,
): Promise<R> {
  const kept: tf.Tensor[] = [];
  let stats: BatchStats[] = [];
  const scope: LossScope = {
    keep: (t) => {
      kept.push(tf.keep(t));
      return t;
    },
    track: (out) => {
      // The statistics are the whole batch's (synchronised batch norm): so is their count.
      stats = shard === null ? out.stats : out.stats.map((st) => ({ ...st, count: Math.round(st.count / shard.share) }));
      for (const s of stats) {
        scope.keep(s.mean);
        scope.keep(s.variance);
      }
    },
  };
  const nameOf = new Map<string, string>();
  for (const [name, v] of variables) nameOf.set(v.name, name);
  const tape = (): { value: tf.Scalar; grads: tf.NamedTensorMap } =>
    tf.variableGrads(() => (shard === null ? lossFn(scope) : tf.mul(lossFn(scope), shard.share)), [...variables.values()]);
  const { value, grads } = shard === null ? tape() : withReplicaGroup(shard.group, tape);
  const summed: tf.Tensor[] = [];
  try {
    const scalars = kept.filter((t) => t.size === 1);
    const read = await Promise.all([value, ...scalars].map(async (t) => (await t.data())[0]!));
    const local = read[0]!;
    const valueOf = new Map<tf.Tensor, number>(scalars.map((t, i) => [t, read[i + 1]!]));
    const loss = shard === null ? local : shard.group.allReduce([local])[0]!;
    if (!Number.isFinite(loss)) {
      throw new TrainingError('nan_loss', `the loss became ${loss} at learning rate ${lr.toPrecision(3)}`);
    }
    let named: tf.NamedTensorMap = {};
    for (const [vname, g] of Object.entries(grads)) named[nameOf.get(vname)!] = g;
    if (shard !== null) {
      named = await sumAcross(shard.group, named, [...variables.keys()]);
      summed.push(...Object.values(named));
    }
    const scalar = (t: tf.Scalar | null, scale: number): number | null => {
      if (t === null) return null;
      const v = valueOf.get(t);
      if (v === undefined) throw new Error('a loss term read after the step was not kept with scope.keep');
      return shard === null ? v : shard.group.allReduce([v * scale])[0]!;
    };
    const result = update({ loss, grads: named, read: (t) => scalar(t, shard?.share ?? 1), count: (t) => scalar(t, 1) });
    updateRunningStats(params, stats);
    return result;
  } finally {
    value.dispose();
    tf.dispose(Object.values(grads));
    tf.dispose(summed);
    tf.dispose(kept);
  }
}

/** Every replica's gradients added up, as new tensors, in the variables' order (the same on every replica). */
async function sumAcross(group: ReplicaGroup, grads: tf.NamedTensorMap, order: readonly string[]): Promise<tf.NamedTensorMap> {
  const names = order.filter((n) => grads[n] !== undefined);
  const sizes = names.map((n) => grads[n]!.size);
  const flat = new Float32Array(sizes.reduce((a, b) => a + b, 0));
  const parts = await Promise.all(names.map((n) => grads[n]!.data() as Promise<Float32Array>));
  let at = 0;
  parts.forEach((part, i) => {
    flat.set(part, at);
    at += sizes[i]!;
  });
  const total = group.allReduceLarge(flat);
  const out: tf.NamedTensorMap = {};
  at = 0;
  names.forEach((n, i) => {
    out[n] = tf.tensor(total.subarray(at, at + sizes[i]!), grads[n]!.shape, 'float32');
    at += sizes[i]!;
  });
  return out;
}
