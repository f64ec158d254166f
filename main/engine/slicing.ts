import * as tf from '@tensorflow/tfjs';
import { count, isPrefix, type Selection } from '../../shared/model/selection.js';

/** The leading `n` channels (last axis) of a tensor. */
export function sliceChannels(x: tf.Tensor, n: number): tf.Tensor {
  const c = x.shape[x.shape.length - 1]!;
  if (n === c) return x;
  const begin = x.shape.map(() => 0);
  const size = x.shape.map((d, i) => (i === x.shape.length - 1 ? n : d));
  return tf.slice(x, begin, size);
}

/** The rows of a [.., cin, cout] weight that a selection of input channels reads, and its first `cout` columns. */
export function sliceWeight(w: tf.Tensor, rows: Selection, cols: number): tf.Tensor {
  const r = w.rank;
  const cin = w.shape[r - 2]!;
  const cout = w.shape[r - 1]!;
  const n = count(rows);
  if (n === cin && cols === cout) return w;
  const pick = (a: number, b: number): tf.Tensor =>
    tf.slice(
      w,
      w.shape.map((_, i) => (i === r - 2 ? a : 0)),
      w.shape.map((d, i) => (i === r - 2 ? b - a : i === r - 1 ? cols : d)),
    );
  if (isPrefix(rows)) return pick(0, n);
  return tf.concat(
    rows.map(([a, b]) => pick(a, b)),
    r - 2,
  );
}
