import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { adjoinedLoss, crossEntropy, klDivergence } from '../../../main/engine/loss.js';
import { useWasmBackend } from '../../helpers/tf.js';

useWasmBackend();

const softmax = (z: number[]): number[] => {
  const m = Math.max(...z);
  const e = z.map((v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
};

describe('adjoined loss, section 4', () => {
  const pl = [
    [2.0, 0.5, -1.0],
    [0.1, 0.2, 0.3],
  ];
  const ql = [
    [1.0, 1.0, -0.5],
    [-2.0, 0.0, 2.0],
  ];
  const labels = [0, 2];
  // KL(p‖q) = Σ p·log((p+ε)/(q+ε)), ε = 1e-6, averaged over the batch: computed by hand.
  const handKl =
    pl
      .map((row, i) => {
        const p = softmax(row);
        const q = softmax(ql[i]!);
        return p.reduce((s, pi, j) => s + pi * Math.log((pi + 1e-6) / (q[j]! + 1e-6)), 0);
      })
      .reduce((a, b) => a + b, 0) / 2;
  const handCe = (logits: number[][]): number => logits.map((row, i) => -Math.log(softmax(row)[labels[i]!]!)).reduce((a, b) => a + b, 0) / 2;

  it('KL against a hand-computed value', () => {
    const kl = klDivergence(tf.tensor2d(pl), tf.tensor2d(ql)).dataSync()[0]!;
    expect(kl).toBeCloseTo(handKl, 5);
    expect(handKl).toBeGreaterThan(0.1);
  });

  it('KL of a distribution with itself is zero', () => {
    expect(klDivergence(tf.tensor2d(pl), tf.tensor2d(pl)).dataSync()[0]!).toBeCloseTo(0, 6);
  });

  it('cross-entropy against a hand-computed value', () => {
    expect(crossEntropy(tf.tensor1d(labels, 'int32'), tf.tensor2d(pl)).dataSync()[0]!).toBeCloseTo(handCe(pl), 5);
  });

  it('L = CE(p) + c·λ·KL + β·CE(q)', () => {
    const y = tf.tensor1d(labels, 'int32');
    const paper = adjoinedLoss(y, tf.tensor2d(pl), tf.tensor2d(ql), { lambda: 0.36, c: 1, beta: 0 });
    expect(paper.total.dataSync()[0]!).toBeCloseTo(handCe(pl) + 0.36 * handKl, 5);
    expect(paper.smallCe).toBeNull();
    const ours = adjoinedLoss(y, tf.tensor2d(pl), tf.tensor2d(ql), { lambda: 0.5, c: 2, beta: 1 });
    expect(ours.total.dataSync()[0]!).toBeCloseTo(handCe(pl) + 2 * 0.5 * handKl + handCe(ql), 5);
  });

  it('p learns from q too: no stop-gradient on the full logits', () => {
    const g = tf.grad((p: tf.Tensor) => klDivergence(p as tf.Tensor2D, tf.tensor2d(ql)))(tf.tensor2d(pl));
    expect(Math.max(...Array.from(g.dataSync(), Math.abs))).toBeGreaterThan(1e-3);
  });
});
