import * as tf from '@tensorflow/tfjs';
import type { PathMetrics } from '../../shared/events.js';
import type { ModelGraph } from '../../shared/model/graph.js';
import type { SmallPlan } from '../../shared/model/plan.js';
import type { BatchBuilder } from './data/batches.js';
import type { ImageSplit } from './data/types.js';
import { forward, type SmallPathSpec } from './forward.js';
import type { NetworkParams } from './params.js';

export interface EvaluationTarget {
  graph: ModelGraph;
  params: NetworkParams;
  plan: SmallPlan | null;
  batches: BatchBuilder;
  config: { model: { inputSize: number; channels: number; classes: number } };
}

export interface Evaluation {
  full: PathMetrics | null;
  small: PathMetrics | null;
  /** [true][predicted] counts of the small path if there is one, else of the full path. */
  confusion: number[][] | null;
}

const EVAL_BATCH = 200;

/**
 * Accuracy and cross-entropy of both paths on a split, batch norms in
 * inference mode, without augmentation.
 */
export function evaluate(
  target: EvaluationTarget,
  split: ImageSplit,
  options: { confusion: boolean; full?: boolean; small?: SmallPathSpec | null },
): Evaluation {
  const { graph, params, plan, batches } = target;
  // The small path as trained (sliced by the plan) unless the caller gives another (a DAN argmax mask).
  const smallPath: SmallPathSpec | null = options.small !== undefined ? options.small : plan === null ? null : { kind: 'sliced', plan };
  const { inputSize, channels, classes } = target.config.model;
  const doFull = options.full ?? true;
  const sums = { full: { correct: 0, loss: 0 }, small: { correct: 0, loss: 0 } };
  const confusion = options.confusion ? Array.from({ length: classes }, () => new Array<number>(classes).fill(0)) : null;
  const indices = new Int32Array(EVAL_BATCH);
  for (let from = 0; from < split.count; from += EVAL_BATCH) {
    const n = Math.min(EVAL_BATCH, split.count - from);
    for (let i = 0; i < n; i++) indices[i] = from + i;
    const batch = batches.build(split, indices.subarray(0, n), false, null);
    // [correct, summed loss, predictions] per computed path, full first.
    const results = tf.tidy(() => {
      const x = tf.tensor4d(batch.x, [n, inputSize, inputSize, channels]);
      const y = tf.tensor1d(batch.y, 'int32');
      const out = forward(graph, params, x, {
        training: false,
        full: doFull,
        small: smallPath,
      });
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
    const keys: Array<'full' | 'small'> = [...(doFull ? (['full'] as const) : []), ...(smallPath === null ? [] : (['small'] as const))];
    keys.forEach((key, k) => {
      sums[key].correct += results[3 * k]!.dataSync()[0]!;
      sums[key].loss += results[3 * k + 1]!.dataSync()[0]!;
    });
    if (confusion !== null) {
      // The exported network: the small one when there is one.
      const preds = results[3 * (keys.length - 1) + 2]!.dataSync();
      for (let i = 0; i < n; i++) confusion[batch.y[i]!]![preds[i]!]! += 1;
    }
    tf.dispose(results);
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
