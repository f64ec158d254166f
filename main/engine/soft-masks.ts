import * as tf from '@tensorflow/tfjs';
import { assertNever } from '../../shared/errors.js';
import type { ModelGraph } from '../../shared/model/graph.js';
import type { SmallPlan } from '../../shared/model/plan.js';
import { count } from '../../shared/model/selection.js';

function head(m: tf.Tensor1D, n: number): tf.Tensor1D {
  return m.shape[0] === n ? m : (tf.slice(m, [0], [n]) as tf.Tensor1D);
}

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
  for (const node of graph.nodes) {
    switch (node.op) {
      case 'input':
      case 'dense':
        masks.push(null);
        break;
      case 'conv': {
        if (node.group === null) {
          masks.push(null);
          break;
        }
        const m = groupMasks.get(node.group);
        if (m === undefined) throw new Error(`no soft mask for width group ${node.group}`);
        if (m.shape[0] !== count(plan.sel[node.id]!)) {
          throw new Error(`mask of group ${node.group} has ${m.shape[0]} channels, ${node.name} has ${count(plan.sel[node.id]!)}`);
        }
        masks.push(m);
        break;
      }
      case 'add': {
        const n = count(plan.sel[node.id]!);
        const [a, b] = node.inputs.map((i) => masks[i] ?? null);
        const ca = a == null ? null : head(a, n);
        const cb = b == null ? null : head(b, n);
        masks.push(ca === null ? cb : cb === null || ca === cb ? ca : (tf.mul(ca, cb) as tf.Tensor1D));
        break;
      }
      case 'concat': {
        const parts = node.inputs.map((i) => masks[i] ?? null);
        masks.push(
          parts.every((m) => m === null)
            ? null
            : (tf.concat(
                parts.map((m, k) => m ?? tf.ones([count(plan.sel[node.inputs[k]!]!)])),
                0,
              ) as tf.Tensor1D),
        );
        break;
      }
      case 'slice': {
        const m = masks[node.input] ?? null;
        masks.push(m === null ? null : head(m, node.shape.c));
        break;
      }
      case 'bn':
      case 'relu':
      case 'maxpool':
      case 'avgpool':
      case 'gap':
        masks.push(masks[node.input] ?? null);
        break;
      default:
        assertNever(node, 'graph node');
    }
  }
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
    let per: number;
    if (node.op === 'conv') per = node.kernel * node.kernel * node.shape.h * node.shape.w;
    else if (node.op === 'dense') per = 1;
    else continue;
    const cin = width(node.input);
    const cout = node.op === 'dense' ? node.shape.c : width(node.id);
    total = tf.add(total, tf.mul(tf.mul(cin, cout), per));
  }
  return total;
}
