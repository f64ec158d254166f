import * as tf from '@tensorflow/tfjs';
import type { GroupChoice } from '../../../shared/dan.js';
import type { ModelGraph } from '../../../shared/model/graph.js';
import { planSmall, type SmallPlan } from '../../../shared/model/plan.js';
import { makeVar } from '../params.js';
import type { Rng } from '../rng.js';

export interface WidthGroup {
  group: string;
  /** Full-width channel count of the group's convolutions. */
  channels: number;
  /** Channels the super-network keeps for this group: its widest candidate. */
  maxChannels: number;
  /** [|A|, maxChannels]: row i is the prefix mask of candidate α_i. */
  candidates: tf.Tensor2D;
  /** Architecture logits η, one per candidate. */
  eta: tf.Variable;
}

/**
 * The DAN search space over a graph: per width group, logits over the
 * nested candidate widths c/α for α in A. The super-network's small path
 * runs at the widest candidate; a group's soft mask Σ gᵢ·mᵢ is g·M.
 */
export class SearchSpace {
  readonly plan: SmallPlan;
  readonly groups: WidthGroup[];

  constructor(
    readonly graph: ModelGraph,
    readonly alphas: readonly number[],
  ) {
    // Every candidate mask is a prefix of the widest one (the smallest α).
    this.plan = planSmall(graph, Math.min(...alphas));
    this.groups = graph.groups.map((group) => {
      const conv = graph.nodes.find((n) => n.op === 'conv' && n.group === group);
      if (conv === undefined) throw new Error(`width group ${group} has no convolution`);
      const channels = conv.shape.c;
      for (const a of alphas) {
        if (Math.floor(channels / a) < 1) {
          throw new Error(`α=${a} leaves group ${group} (${channels} channels) with none; narrow the search space or widen the model`);
        }
      }
      const maxChannels = Math.floor(channels / Math.min(...alphas));
      const rows = alphas.map((a) => {
        const keep = Math.floor(channels / a);
        return Array.from({ length: maxChannels }, (_, j) => (j < keep ? 1 : 0));
      });
      return {
        group,
        channels,
        maxChannels,
        candidates: tf.tensor2d(rows),
        eta: makeVar(() => tf.zeros([alphas.length]), true),
      };
    });
  }

  /** Gumbel(0, 1) noise, one vector per group. */
  drawNoise(rng: Rng): Map<string, Float32Array> {
    return new Map(this.groups.map((g) => [g.group, Float32Array.from(this.alphas, () => rng.gumbel())]));
  }

  /**
   * g = softmax((η + ε)/τ) per group and the soft masks g·M. Differentiable
   * in η; call inside a gradient function or tidy.
   */
  softMasks(tau: number, noise: ReadonlyMap<string, Float32Array> | null): { masks: Map<string, tf.Tensor1D>; weights: Map<string, tf.Tensor1D> } {
    const masks = new Map<string, tf.Tensor1D>();
    const weights = new Map<string, tf.Tensor1D>();
    for (const g of this.groups) {
      const eps = noise?.get(g.group);
      const logits = eps === undefined ? g.eta : tf.add(g.eta, tf.tensor1d(eps));
      const w = tf.softmax(tf.div(logits, tau)) as tf.Tensor1D;
      weights.set(g.group, w);
      masks.set(g.group, tf.reshape(tf.matMul(tf.reshape(w, [1, -1]), g.candidates), [-1]) as tf.Tensor1D);
    }
    return { masks, weights };
  }

  /** η of every group, read together (asynchronously: a GPU backend has no synchronous read). */
  private async etas(): Promise<Float32Array[]> {
    return Promise.all(this.groups.map((g) => g.eta.data() as Promise<Float32Array>));
  }

  /** Hard masks of the argmax architecture (one-hot weights). */
  async argmaxMasks(): Promise<Map<string, tf.Tensor1D>> {
    const masks = new Map<string, tf.Tensor1D>();
    const etas = await this.etas();
    for (const [k, g] of this.groups.entries()) {
      const i = argmax(etas[k]!);
      masks.set(
        g.group,
        tf.tidy(() => tf.reshape(tf.slice(g.candidates, [i, 0], [1, -1]), [-1]) as tf.Tensor1D),
      );
    }
    return masks;
  }

  /** α of argmax η per group. */
  async choice(): Promise<Record<string, number>> {
    const etas = await this.etas();
    return Object.fromEntries(this.groups.map((g, k) => [g.group, this.alphas[argmax(etas[k]!)]!]));
  }

  /** Per group: softmax(η/τ), η and the argmax α. */
  async report(tau: number): Promise<GroupChoice[]> {
    const etas = await this.etas();
    return this.groups.map((g, k) => {
      const eta = Array.from(etas[k]!);
      const probabilities = softmax(eta.map((v) => v / tau));
      return { group: g.group, channels: g.channels, probabilities, eta, alpha: this.alphas[argmax(eta)]! };
    });
  }

  etaVariables(): Map<string, tf.Variable> {
    return new Map(this.groups.map((g) => [`eta/${g.group}`, g.eta]));
  }

  dispose(): void {
    for (const g of this.groups) {
      g.candidates.dispose();
      g.eta.dispose();
    }
  }
}

export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}

function softmax(values: number[]): number[] {
  const m = Math.max(...values);
  const e = values.map((v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}
