import * as tf from '@tensorflow/tfjs';
import type { ModelGraph } from '../../shared/model/graph.js';
import type { SmallPlan } from '../../shared/model/plan.js';
import { count } from '../../shared/model/selection.js';
import { engineOp } from './ops.js';

/**
 * The soft channel mask of every small-path tensor of a DAN super-network,
 * from one mask per width group (null: all ones). A conv's output carries
 * its group's mask; batch norms, ReLUs and pools pass their input's on; a
 * residual add of two differently masked tensors carries their product (the
 * narrower prefix when the masks are hard); a concatenation joins its
 * pieces' masks. With one-hot group weights these are exactly the prefixes
 * an AN plan slices.
 */
export function propagateMasks(graph: ModelGraph, plan: SmallPlan, groupMasks: ReadonlyMap<string, tf.Tensor1D>): Array<tf.Tensor1D | null> {
  const masks: Array<tf.Tensor1D | null> = [];
  for (const node of graph.nodes) masks.push(engineOp(node).mask(node, { plan, masks, groupMasks }));
  return masks;
}

/**
 * Expected multiply-adds of the small network under soft masks: for each
 * conv k²·h·w·E[c_in]·E[c_out] and for the dense head E[c_in]·units, where
 * E[c] of a tensor is the sum of its mask (its channel count where there is
 * none). Differentiable in the masks, hence in the architecture logits.
 */
export function expectedMacs(graph: ModelGraph, plan: SmallPlan, masks: ReadonlyArray<tf.Tensor1D | null>): tf.Scalar {
  const width = (id: number): tf.Scalar | number => {
    const m = masks[id] ?? null;
    return m === null ? count(plan.sel[id]!) : tf.sum(m);
  };
  let total: tf.Scalar = tf.scalar(0);
  for (const node of graph.nodes) {
    const macs = engineOp(node).expectedMacs;
    if (macs !== null) total = tf.add(total, macs(node, width));
  }
  return total;
}
