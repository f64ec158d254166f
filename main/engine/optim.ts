import * as tf from '@tensorflow/tfjs';
import type { StepRates } from '../../shared/schedules.js';
import type { OptimizerConfig } from '../../shared/train-config.js';
import { adamUpdate, fusedUpdatesAvailable, sgdUpdate } from './fused-updates.js';
import { makeVar } from './params.js';

export interface OptimizerOptions {
  /**
   * Update every parameter in one kernel call where the backend has it (wasm,
   * cpu; the default), or with tfjs ops per parameter (false) — the same values.
   */
  fused?: boolean;
}

/**
 * SGD (momentum, Nesterov, L2 weight decay) and Adam with PyTorch's update
 * rules. The slot variables are named after the parameters so a checkpoint
 * can save and restore them. A step's momentum (SGD) or β1 (Adam) comes from
 * the schedule when it cycles them, as OneCycleLR writes them into PyTorch's
 * parameter groups; being a function of the step, it needs no saved state.
 */
export class Optimizer {
  private readonly slots = new Map<string, tf.Variable>();
  private steps = 0;

  constructor(
    readonly config: OptimizerConfig,
    private readonly options: OptimizerOptions = {},
  ) {}

  private slot(name: string, like: tf.Tensor): tf.Variable {
    let v = this.slots.get(name);
    if (v === undefined) {
      v = makeVar(() => tf.zerosLike(like), false);
      this.slots.set(name, v);
    }
    return v;
  }

  /** Applies one update at this step's rates to every parameter that has a gradient. */
  apply(params: ReadonlyMap<string, tf.Variable>, grads: tf.NamedTensorMap, rates: StepRates): void {
    this.steps += 1;
    if ((this.options.fused ?? true) && fusedUpdatesAvailable()) {
      this.applyFused(params, grads, rates);
      return;
    }
    const c = this.config;
    const { lr } = rates;
    tf.tidy(() => {
      for (const [name, p] of params) {
        const g0 = grads[name];
        if (g0 === undefined) continue;
        const g = c.weightDecay > 0 ? tf.add(g0, tf.mul(p, c.weightDecay)) : g0;
        if (c.kind === 'sgd') {
          const momentum = rates.momentum ?? c.momentum;
          let step: tf.Tensor = g;
          if (momentum > 0) {
            const key = `${name}/momentum`;
            const first = !this.slots.has(key);
            const buf = this.slot(key, p);
            // PyTorch starts the buffer at the first gradient.
            const next = first ? g : tf.add(tf.mul(buf, momentum), g);
            buf.assign(next);
            step = c.nesterov ? tf.add(g, tf.mul(next, momentum)) : next;
          }
          p.assign(tf.sub(p, tf.mul(step, lr)));
        } else {
          const beta1 = rates.momentum ?? c.beta1;
          const m = this.slot(`${name}/m`, p);
          const v = this.slot(`${name}/v`, p);
          m.assign(tf.add(tf.mul(m, beta1), tf.mul(g, 1 - beta1)));
          v.assign(tf.add(tf.mul(v, c.beta2), tf.mul(tf.square(g), 1 - c.beta2)));
          // As PyTorch's Adam: the bias correction uses this step's β1.
          const bc1 = 1 - beta1 ** this.steps;
          const bc2 = 1 - c.beta2 ** this.steps;
          const denom = tf.add(tf.div(tf.sqrt(v), Math.sqrt(bc2)), c.epsilon);
          p.assign(tf.sub(p, tf.mul(tf.div(m, denom), lr / bc1)));
        }
      }
    });
  }

  /** The same update as one kernel call for every parameter (fused-updates.ts): the same values, bit for bit. */
  private applyFused(params: ReadonlyMap<string, tf.Variable>, grads: tf.NamedTensorMap, rates: StepRates): void {
    const c = this.config;
    const updated: Array<{ name: string; param: tf.Variable; grad: tf.Tensor }> = [];
    for (const [name, param] of params) {
      const grad = grads[name];
      if (grad !== undefined) updated.push({ name, param, grad });
    }
    if (updated.length === 0) return;
    tf.tidy(() => {
      if (c.kind === 'sgd') {
        const momentum = rates.momentum ?? c.momentum;
        // PyTorch starts the buffer at the first gradient: no buffer goes in on the first step.
        const items = updated.map((u) => ({ ...u, buffer: momentum > 0 ? (this.slots.get(`${u.name}/momentum`) ?? null) : null }));
        const out = sgdUpdate(items, { lr: rates.lr, momentum, nesterov: c.nesterov, weightDecay: c.weightDecay });
        items.forEach((it, i) => {
          it.param.assign(out.params[i]!);
          if (momentum > 0) this.slot(`${it.name}/momentum`, it.param).assign(out.buffers[i]!);
        });
        return;
      }
      const beta1 = rates.momentum ?? c.beta1;
      const items = updated.map((u) => ({ ...u, m: this.slot(`${u.name}/m`, u.param), v: this.slot(`${u.name}/v`, u.param) }));
      // As PyTorch's Adam: the bias correction uses this step's β1.
      const stepSize = rates.lr / (1 - beta1 ** this.steps);
      const sqrtCorrection2 = Math.sqrt(1 - c.beta2 ** this.steps);
      const out = adamUpdate(items, { beta1, beta2: c.beta2, epsilon: c.epsilon, weightDecay: c.weightDecay, stepSize, sqrtCorrection2 });
      items.forEach((it, i) => {
        it.param.assign(out.params[i]!);
        it.m.assign(out.m[i]!);
        it.v.assign(out.v[i]!);
      });
    });
  }

  get stepCount(): number {
    return this.steps;
  }

  /** Slot variables and the step count, for checkpoints. */
  state(): { steps: number; slots: Map<string, tf.Variable> } {
    return { steps: this.steps, slots: this.slots };
  }

  restore(steps: number, slots: ReadonlyMap<string, tf.Tensor>): void {
    this.steps = steps;
    for (const [name, t] of slots) {
      const existing = this.slots.get(name);
      if (existing !== undefined) existing.assign(t);
      else
        this.slots.set(
          name,
          makeVar(() => tf.clone(t), false),
        );
    }
  }

  dispose(): void {
    for (const v of this.slots.values()) v.dispose();
    this.slots.clear();
  }
}
