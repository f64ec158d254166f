import * as tf from '@tensorflow/tfjs';
import type { ModelGraph } from '../../shared/model/graph.js';
import type { SmallPlan } from '../../shared/model/plan.js';
import { engineOp } from './ops.js';
import type { Rng } from './rng.js';

/** Which path a batch norm belongs to: each path has its own (docs/ARCHITECTURE.md, "The method in the code"). */
export type Path = 'full' | 'small';

export const paramName = {
  weight: (layer: string) => `${layer}.weight`,
  bias: (layer: string) => `${layer}.bias`,
  gamma: (layer: string, path: Path) => `${layer}.${path}.gamma`,
  beta: (layer: string, path: Path) => `${layer}.${path}.beta`,
  mean: (layer: string, path: Path) => `${layer}.${path}.mean`,
  variance: (layer: string, path: Path) => `${layer}.${path}.var`,
};

/**
 * The variables of a network: trainable weights (shared convs and dense head,
 * per-path batch-norm scale and shift) and the per-path running statistics.
 */
export class NetworkParams {
  constructor(
    readonly trainable: Map<string, tf.Variable>,
    readonly running: Map<string, tf.Variable>,
  ) {}

  get(name: string): tf.Variable {
    const v = this.trainable.get(name) ?? this.running.get(name);
    if (v === undefined) throw new Error(`no parameter named ${name}`);
    return v;
  }

  has(name: string): boolean {
    return this.trainable.has(name) || this.running.has(name);
  }

  /** Number of trainable scalars. */
  countTrainable(): number {
    let n = 0;
    for (const v of this.trainable.values()) n += v.size;
    return n;
  }

  all(): Map<string, tf.Variable> {
    return new Map([...this.trainable, ...this.running]);
  }

  dispose(): void {
    for (const v of this.trainable.values()) v.dispose();
    for (const v of this.running.values()) v.dispose();
  }
}

/** A variable owning its initial value; the temporaries are freed. */
export function makeVar(init: () => tf.Tensor, trainable: boolean): tf.Variable {
  return tf.tidy(() => tf.variable(init(), trainable));
}

/**
 * Creates and initialises a network's variables as torchvision does:
 * He-normal (fan-out) convs, γ = 1, β = 0, and PyTorch's uniform dense init.
 * With a small plan, every batch norm also gets a small-path twin over the
 * small path's live channels. Values come from `rng` so runs are repeatable.
 */
export function createParams(graph: ModelGraph, plan: SmallPlan | null, rng: Rng): NetworkParams {
  const trainable = new Map<string, tf.Variable>();
  const running = new Map<string, tf.Variable>();
  for (const node of graph.nodes) engineOp(node).params(node, { graph, plan, rng, trainable, running });
  return new NetworkParams(trainable, running);
}
