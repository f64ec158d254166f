import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { ADJOIN_WEIGHTS, ADJOIN_WEIGHTS_GRAD, adjoinWeights, type WeightSlice } from '../../../main/engine/adjoined-weights.js';
import { sliceWeight } from '../../../main/engine/slicing.js';
import { onBackend, seeded, useWasmBackend } from '../../helpers/tf.js';

useWasmBackend();

/** Weights as the small path slices them: a conv (prefix rows and columns), a depthwise filter, a dense layer, a DenseNet-style union of row ranges, one with odd counts. */
const CASES: Array<{ shape: number[]; slice: WeightSlice }> = [
  { shape: [3, 3, 16, 8], slice: { rows: [[0, 4]], cols: 2 } },
  { shape: [3, 3, 12, 1], slice: { rows: [[0, 3]], cols: 1 } },
  { shape: [20, 10], slice: { rows: [[0, 5]], cols: 10 } },
  {
    shape: [1, 1, 12, 6],
    slice: {
      rows: [
        [0, 3],
        [5, 9],
      ],
      cols: 3,
    },
  },
  { shape: [1, 1, 14, 84], slice: { rows: [[0, 14]], cols: 21 } },
];

/** Seeded values with exact zeros of both signs among them: a gradient of −0 must come out as the composed ops make it. */
function withZeros(n: number, seed: number): Float32Array {
  return seeded(n, seed).map((v, i) => (i % 7 === 0 ? 0 : i % 7 === 3 ? -0 : v));
}

/**
 * L = Σ r ⊙ w_full + Σ q ⊙ w_small over every case, and its gradient with
 * respect to each weight: by the fused op, or by tfjs slices (the reference).
 */
function gradients(fused: boolean): { small: number[][]; grads: number[][] } {
  return tf.tidy(() => {
    const weights = CASES.map((c, i) =>
      tf.tensor(
        seeded(
          c.shape.reduce((a, b) => a * b, 1),
          10 + i,
        ),
        c.shape,
      ),
    );
    const views = (ws: tf.Tensor[]): { full: tf.Tensor[]; small: tf.Tensor[] } =>
      fused
        ? adjoinWeights(
            ws,
            CASES.map((c) => c.slice),
          )
        : { full: ws, small: ws.map((w, i) => sliceWeight(w, CASES[i]!.slice.rows, CASES[i]!.slice.cols)) };
    const loss = (...ws: tf.Tensor[]): tf.Scalar => {
      const { full, small } = views(ws);
      const terms = full.map((f, i) => tf.sum(tf.mul(f, tf.tensor(withZeros(f.size, 100 + i), f.shape))));
      small.forEach((s, i) => terms.push(tf.sum(tf.mul(s, tf.tensor(withZeros(s.size, 200 + i), s.shape)))));
      return tf.addN(terms) as tf.Scalar;
    };
    const small = views(weights).small.map((t) => Array.from(t.dataSync()));
    const grads = tf
      .grads(loss)(weights)
      .map((g) => Array.from(g.dataSync()));
    return { small, grads };
  });
}

describe('the adjoined weights op', () => {
  it('gives the small path the slices tfjs would cut, and the full path the weights themselves without a copy', () => {
    tf.tidy(() => {
      const weights = CASES.map((c, i) =>
        tf.tensor(
          seeded(
            c.shape.reduce((a, b) => a * b, 1),
            i,
          ),
          c.shape,
        ),
      );
      const { full, small } = adjoinWeights(
        weights,
        CASES.map((c) => c.slice),
      );
      weights.forEach((w, i) => {
        expect(full[i]!.dataId, `weight ${i}`).toBe(w.dataId);
        const ref = sliceWeight(w, CASES[i]!.slice.rows, CASES[i]!.slice.cols);
        expect(small[i]!.shape, `weight ${i}`).toEqual(ref.shape);
        expect(Array.from(small[i]!.dataSync()), `weight ${i}`).toEqual(Array.from(ref.dataSync()));
      });
    });
  });

  it('has the gradients of the per-weight slices, bit for bit, on wasm and on cpu', async () => {
    for (const backend of ['wasm', 'cpu']) {
      const [reference, fused] = await onBackend(backend, () => [gradients(false), gradients(true)]);
      expect(fused.small, backend).toEqual(reference.small);
      fused.grads.forEach((g, i) => {
        if (CASES[i]!.slice.rows.length === 1) {
          // Both signs of zero included: the Add of the zero-padded slice makes them so.
          expect(g, `${backend}, weight ${i}`).toEqual(reference.grads[i]);
        } else {
          // Row ranges: the per-range slices' gradients add up in the tape's order, which can
          // turn a gradient of −0 into +0 or not; every other value is the same.
          expect(
            g.map((v) => v + 0),
            `${backend}, weight ${i}`,
          ).toEqual(reference.grads[i]!.map((v) => v + 0));
        }
      });
    }
  });

  it('is one kernel call forward and one backward for every weight, with no Slice, PadV2 or Add of weights', async () => {
    const weights = CASES.map((c) => tf.variable(tf.ones(c.shape)));
    const profile = await tf.profile(() => {
      const { value, grads } = tf.variableGrads(() => {
        const { full, small } = adjoinWeights(
          weights,
          CASES.map((c) => c.slice),
        );
        return tf.addN([...full, ...small].map((t) => tf.sum(t))) as tf.Scalar;
      }, weights);
      tf.dispose([value, ...Object.values(grads)]);
    });
    const names = profile.kernels.map((k) => k.name);
    expect(names.filter((n) => n === ADJOIN_WEIGHTS)).toHaveLength(1);
    expect(names.filter((n) => n === ADJOIN_WEIGHTS_GRAD)).toHaveLength(1);
    expect(names.filter((n) => n === 'Slice' || n === 'PadV2')).toEqual([]);
    expect(
      profile.kernels.filter((k) => k.name === 'Add' && k.outputShapes.some((s) => CASES.some((c) => JSON.stringify(s) === JSON.stringify(c.shape)))),
    ).toEqual([]);
    tf.dispose(weights);
  });

  it('leaves no tensors behind, gradients included', () => {
    gradients(true);
    const before = tf.memory().numTensors;
    gradients(true);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('refuses a slice its weight does not have, naming the weight', () => {
    const w = tf.zeros([3, 3, 8, 4]);
    expect(() => adjoinWeights([w], [{ rows: [[0, 9]], cols: 2 }])).toThrow(/weight 0 of shape \[3, 3, 8, 4\] has no slice of rows \[\[0,9\]\] and 2 columns/);
    expect(() => adjoinWeights([w], [{ rows: [[0, 4]], cols: 5 }])).toThrow(/weight 0/);
    expect(() => adjoinWeights([w], [])).toThrow(/1 weights but 0 slices/);
    w.dispose();
  });
});
