import * as tf from '@tensorflow/tfjs';
import { updateRunningStats, type BatchStats, type ForwardResult } from './forward.js';
import type { NetworkParams } from './params.js';

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
  read(t: tf.Scalar | null): number | null;
}

/**
 * One optimisation step's bookkeeping: the loss and its gradients with
 * respect to `variables`, then `update`, then every tensor freed. The loss is
 * read before `update` runs, so a NaN/Inf loss leaves the weights as they
 * were (RELIABILITY.md row 25). Running statistics move only after a
 * successful update.
 */
export function optimizationStep<R>(
  params: NetworkParams,
  variables: ReadonlyMap<string, tf.Variable>,
  lossFn: (scope: LossScope) => tf.Scalar,
  lr: number,
  update: (g: Gradients) => R,
): R {
  const kept: tf.Tensor[] = [];
  let stats: BatchStats[] = [];
  const scope: LossScope = {
    keep: (t) => {
      kept.push(tf.keep(t));
      return t;
    },
    track: (out) => {
      stats = out.stats;
      for (const s of stats) {
        scope.keep(s.mean);
        scope.keep(s.variance);
      }
    },
  };
  const nameOf = new Map<string, string>();
  for (const [name, v] of variables) nameOf.set(v.name, name);
  const { value, grads } = tf.variableGrads(() => lossFn(scope), [...variables.values()]);
  try {
    const loss = value.dataSync()[0]!;
    if (!Number.isFinite(loss)) {
      throw new TrainingError('nan_loss', `the loss became ${loss} at learning rate ${lr.toPrecision(3)}`);
    }
    const named: tf.NamedTensorMap = {};
    for (const [vname, g] of Object.entries(grads)) named[nameOf.get(vname)!] = g;
    const result = update({ loss, grads: named, read: (t) => (t === null ? null : t.dataSync()[0]!) });
    updateRunningStats(params, stats);
    return result;
  } finally {
    value.dispose();
    tf.dispose(Object.values(grads));
    tf.dispose(kept);
  }
}
