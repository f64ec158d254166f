import * as tf from '@tensorflow/tfjs';
import type { PathMetrics } from '../../shared/events.js';
import type { ModelGraph } from '../../shared/model/graph.js';
import type { SmallPlan } from '../../shared/model/plan.js';
import type { BatchBuilder } from './data/batches.js';
import type { ImageSplit } from './data/types.js';
import { forward, type SmallPathSpec } from './forward.js';
import type { NetworkParams } from './params.js';

/** A network to evaluate: its graph, weights and (adjoined) small plan. */
export interface EvaluatedNetwork {
  graph: ModelGraph;
  params: NetworkParams;
  plan: SmallPlan | null;
  config: { model: { inputSize: number; channels: number; classes: number } };
}

export interface EvaluationTarget extends EvaluatedNetwork {
  batches: BatchBuilder;
}

export interface Evaluation {
  full: PathMetrics | null;
  small: PathMetrics | null;
  /** [true][predicted] counts of the small path if there is one, else of the full path. */
  confusion: number[][] | null;
}

/**
 * Spreads evaluation batches over data-parallel engines: `dispatch` hands
 * the others their shards and returns the caller's (null: too few images to
 * split); `sum` adds up every engine's figures (each engine calls it once
 * per dispatched batch, in the same order).
 */
export interface EvaluationSharding {
  dispatch(batch: { x: Float32Array; y: Int32Array }, n: number, paths: ShardPaths): { x: Float32Array; y: Int32Array; count: number } | null;
  sum(values: number[]): ArrayLike<number>;
}

/**
 * What each engine measures: the paths (the small one as trained, or a DAN
 * search's under its soft masks at `softTau`), and the classes of the
 * confusion matrix it counts (0: none).
 */
export interface ShardPaths {
  full: boolean;
  small: boolean;
  softTau: number | null;
  confusionClasses: number;
}

const EVAL_BATCH = 200;

/**
 * A shard's measurements as one vector to add up across engines: the sums
 * of `measureBatch`, then (with confusion) its [true][predicted] counts row by row.
 */
export function shardFigures(measured: { sums: number[]; predictions: Int32Array | null }, labels: Int32Array, n: number, confusionClasses: number): number[] {
  if (confusionClasses === 0) return measured.sums;
  const counts = new Array<number>(confusionClasses * confusionClasses).fill(0);
  for (let i = 0; i < n; i++) counts[labels[i]! * confusionClasses + measured.predictions![i]!]! += 1;
  return [...measured.sums, ...counts];
}

/**
 * Per computed path (full first): the number of correct predictions and the
 * summed cross-entropy of `n` images, batch norms in inference mode; and the
 * predictions of the last path when asked for.
 */
export async function measureBatch(
  network: EvaluatedNetwork,
  images: { x: Float32Array; y: Int32Array },
  n: number,
  paths: { full: boolean; small: SmallPathSpec | null },
  withPredictions: boolean,
): Promise<{ sums: number[]; predictions: Int32Array | null }> {
  const { inputSize, channels, classes } = network.config.model;
  const results = tf.tidy(() => {
    const x = tf.tensor4d(images.x.subarray(0, n * inputSize * inputSize * channels), [n, inputSize, inputSize, channels]);
    const y = tf.tensor1d(images.y.subarray(0, n), 'int32');
    const out = forward(network.graph, network.params, x, { training: false, full: paths.full, small: paths.small });
    const measured: tf.Tensor[] = [];
    for (const logits of [out.full, out.small]) {
      if (logits === null) continue;
      const pred = tf.argMax(logits, 1);
      const correct = tf.sum(tf.cast(tf.equal(pred, y), 'int32'));
      const loss = tf.neg(tf.sum(tf.mul(tf.oneHot(y, classes), tf.logSoftmax(logits))));
      measured.push(correct, loss, pred);
    }
    return measured;
  });
  try {
    // Read together, asynchronously: a GPU backend has no synchronous read.
    const values = await Promise.all(results.map((t) => t.data()));
    const sums: number[] = [];
    for (let k = 0; k < values.length; k += 3) sums.push(values[k]![0]!, values[k + 1]![0]!);
    const predictions = withPredictions ? (values[values.length - 1] as Int32Array) : null;
    return { sums, predictions };
  } finally {
    tf.dispose(results);
  }
}

/**
 * Accuracy and cross-entropy of both paths on a split, batch norms in
 * inference mode, without augmentation. With `sharding`, the trained small
 * path and the full one are measured on every engine, each on its shard of
 * every batch, confusion matrix included. Another small path is measured by
 * every engine only when each can build it itself: a DAN search's soft masks
 * at `softTau` (from η, the same on every engine); otherwise it stays on this one.
 */
export async function evaluate(
  target: EvaluationTarget,
  split: ImageSplit,
  options: { confusion: boolean; full?: boolean; small?: SmallPathSpec | null; softTau?: number; sharding?: EvaluationSharding | null },
): Promise<Evaluation> {
  const { plan, batches } = target;
  // The small path as trained (sliced by the plan) unless the caller gives another (a DAN argmax mask).
  const smallPath: SmallPathSpec | null = options.small !== undefined ? options.small : plan === null ? null : { kind: 'sliced', plan };
  const { classes } = target.config.model;
  const doFull = options.full ?? true;
  const softTau = options.softTau ?? null;
  const sharding = options.small !== undefined && softTau === null ? null : (options.sharding ?? null);
  const sums = { full: { correct: 0, loss: 0 }, small: { correct: 0, loss: 0 } };
  const confusion = options.confusion ? Array.from({ length: classes }, () => new Array<number>(classes).fill(0)) : null;
  const keys: Array<'full' | 'small'> = [...(doFull ? (['full'] as const) : []), ...(smallPath === null ? [] : (['small'] as const))];
  const indices = new Int32Array(EVAL_BATCH);
  for (let from = 0; from < split.count; from += EVAL_BATCH) {
    const n = Math.min(EVAL_BATCH, split.count - from);
    for (let i = 0; i < n; i++) indices[i] = from + i;
    const batch = batches.build(split, indices.subarray(0, n), false, null);
    const confusionClasses = confusion === null ? 0 : classes;
    const own = sharding?.dispatch(batch, n, { full: doFull, small: smallPath !== null, softTau, confusionClasses }) ?? null;
    const images = own ?? batch;
    const count = own?.count ?? n;
    const measured = await measureBatch(target, images, count, { full: doFull, small: smallPath }, confusion !== null);
    const figures = shardFigures(measured, images.y, count, confusionClasses);
    const total = own === null ? figures : sharding!.sum(figures);
    keys.forEach((key, k) => {
      sums[key].correct += total[2 * k]!;
      sums[key].loss += total[2 * k + 1]!;
    });
    if (confusion !== null) {
      // The exported network's: the small one when there is one (the last path measured).
      const at = 2 * keys.length;
      for (let t = 0; t < classes; t++) for (let p = 0; p < classes; p++) confusion[t]![p]! += total[at + t * classes + p]!;
    }
  }
  const metrics = (s: { correct: number; loss: number }): PathMetrics => ({
    accuracy: s.correct / Math.max(split.count, 1),
    loss: s.loss / Math.max(split.count, 1),
  });
  return {
    full: doFull ? metrics(sums.full) : null,
    small: smallPath === null ? null : metrics(sums.small),
    confusion,
  };
}
