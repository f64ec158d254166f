import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_MODEL } from '../../../shared/model/config.js';
import { GraphBuilder, type ModelGraph } from '../../../shared/model/graph.js';
import { planSmall } from '../../../shared/model/plan.js';
import { forward } from '../../../main/engine/forward.js';
import { adjoinedLoss } from '../../../main/engine/loss.js';
import { createParams, paramName, type NetworkParams } from '../../../main/engine/params.js';
import { Rng } from '../../../main/engine/rng.js';
import { seeded, useWasmBackend } from '../../helpers/tf.js';

useWasmBackend();

/** input 6×6×3 → conv(4) → bn → relu → conv(4) → bn → relu → pool → dense(3); both convs adjoined. */
function tinyGraph(): ModelGraph {
  const b = new GraphBuilder({ ...DEFAULT_MODEL, inputSize: 6, channels: 3, classes: 3 });
  let x = b.input({ h: 6, w: 6, c: 3 });
  x = b.relu('r1', b.bn('bn1', b.conv('conv1', x, 4, 3, 1, 1, true, 'g1')));
  x = b.relu('r2', b.bn('bn2', b.conv('conv2', x, 4, 3, 1, 1, true, 'g2')));
  return b.finish(b.dense('fc', b.gap('pool', x), 3));
}

const graph = tinyGraph();
const plan = planSmall(graph, 2);
let input: tf.Tensor4D;
let labels: tf.Tensor1D;
let params: NetworkParams;
beforeAll(() => {
  input = tf.tensor4d(seeded(5 * 6 * 6 * 3, 11), [5, 6, 6, 3]);
  labels = tf.tensor1d([0, 1, 2, 0, 1], 'int32');
  params = createParams(graph, plan, new Rng(3));
});

type Which = 'both' | 'full' | 'small';

function loss(params: NetworkParams, which: Which): tf.Scalar {
  return tf.tidy(() => {
    const out = forward(graph, params, input, { training: true, small: { kind: 'sliced', plan } });
    if (which === 'full') return tf.sum(tf.mul(out.full!, tf.tensor2d(seeded(15, 5), [5, 3])));
    if (which === 'small') return tf.sum(tf.mul(out.small!, tf.tensor2d(seeded(15, 6), [5, 3])));
    return adjoinedLoss(labels, out.full!, out.small!, { lambda: 1, c: 1, beta: 0 }).total;
  });
}

function gradOf(params: NetworkParams, name: string, which: Which): Float32Array {
  return tf.tidy(() => {
    const v = params.get(name);
    const { grads } = tf.variableGrads(() => loss(params, which), [v]);
    return grads[v.name]!.dataSync() as Float32Array;
  });
}

describe('adjoined convolution', () => {
  const w2 = paramName.weight('conv2');

  it('the small path reads the sliced weights: its gradient lives in W[:, :, :2, :2] only', () => {
    const g = gradOf(params, w2, 'small');
    // Layout [3, 3, 4, 4]: index = ((p·3 + q)·4 + cin)·4 + cout.
    let inside = 0;
    for (let i = 0; i < g.length; i++) {
      const cout = i % 4;
      const cin = Math.floor(i / 4) % 4;
      if (cin < 2 && cout < 2) inside = Math.max(inside, Math.abs(g[i]!));
      else expect(g[i]).toBe(0);
    }
    expect(inside).toBeGreaterThan(1e-4);
  });

  it('the shared slice gets the sum of both paths’ gradients', () => {
    const both = (() => {
      const v = params.get(w2);
      return tf.tidy(() => {
        const { grads } = tf.variableGrads(() => tf.add(loss(params, 'full'), loss(params, 'small')) as tf.Scalar, [v]);
        return grads[v.name]!.dataSync() as Float32Array;
      });
    })();
    const full = gradOf(params, w2, 'full');
    const small = gradOf(params, w2, 'small');
    for (let i = 0; i < both.length; i++) expect(both[i]).toBeCloseTo(full[i]! + small[i]!, 5);
  });

  it('gradients of the adjoined loss agree with finite differences, on both paths’ weights', () => {
    for (const name of [paramName.weight('conv1'), w2, paramName.weight('fc')]) {
      const g = gradOf(params, name, 'both');
      const v = params.get(name);
      const original = v.dataSync().slice();
      // A weight the small path shares (index 0) and, for convs, one only the full path uses (last).
      for (const i of [0, original.length - 1]) {
        const eps = 1e-2;
        const at = (delta: number): number => {
          const w = original.slice();
          w[i]! += delta;
          v.assign(tf.tensor(w, v.shape));
          return loss(params, 'both').dataSync()[0]!;
        };
        const numeric = (at(eps) - at(-eps)) / (2 * eps);
        v.assign(tf.tensor(original, v.shape));
        expect(Math.abs(numeric - g[i]!)).toBeLessThan(2e-3 + 2e-2 * Math.abs(numeric));
      }
    }
  });
});
