import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { ONE_CYCLE, ratesAt, type StepRates } from '../../../shared/schedules.js';
import type { OptimizerConfig } from '../../../shared/train-config.js';
import { Optimizer } from '../../../main/engine/optim.js';
import { useWasmBackend } from '../../helpers/tf.js';

useWasmBackend();

/**
 * Three updates of one parameter p₀ = [1, −2] with fixed gradients, against
 * PyTorch's update rules. The expected values are those rules worked out in
 * float64 (and what PyTorch 1.13's SGD, Adam and OneCycleLR give for the
 * same parameter and gradients).
 */
const GRADS = [
  [0.5, 0.25],
  [-1, 0.5],
  [0.25, -0.75],
];

function run(config: OptimizerConfig, rates: (step: number) => StepRates, steps = GRADS.length, optimizer = new Optimizer(config)): number[][] {
  const p = tf.variable(tf.tensor1d([1, -2]));
  const params = new Map([['p', p]]);
  const out: number[][] = [];
  try {
    for (let k = 0; k < steps; k++) {
      const g = tf.tensor1d(GRADS[k]!);
      optimizer.apply(params, { p: g }, rates(k));
      g.dispose();
      out.push(Array.from(p.dataSync()));
    }
  } finally {
    p.dispose();
    optimizer.dispose();
  }
  return out;
}

const constant =
  (lr: number): ((step: number) => StepRates) =>
  () => ({ lr, momentum: null });

function expectSteps(got: number[][], want: number[][]): void {
  expect(got.length).toBe(want.length);
  got.forEach((p, k) => p.forEach((v, i) => expect(v, `step ${k + 1}, element ${i}`).toBeCloseTo(want[k]![i]!, 6)));
}

const sgd = (over: Partial<Extract<OptimizerConfig, { kind: 'sgd' }>> = {}): OptimizerConfig => ({
  kind: 'sgd',
  lr: 0.1,
  momentum: 0.9,
  nesterov: false,
  weightDecay: 0,
  ...over,
});
const adam = (over: Partial<Extract<OptimizerConfig, { kind: 'adam' }>> = {}): OptimizerConfig => ({
  kind: 'adam',
  lr: 0.01,
  beta1: 0.9,
  beta2: 0.999,
  epsilon: 1e-8,
  weightDecay: 0,
  ...over,
});

describe('SGD as PyTorch’s', () => {
  it('with momentum: the buffer starts at the first gradient', () => {
    // b₁ = g₁ = [0.5, 0.25], p₁ = p₀ − 0.1·b₁ = [0.95, −2.025];
    // b₂ = 0.9·b₁ + g₂ = [−0.55, 0.725], p₂ = [1.005, −2.0975].
    expectSteps(run(sgd(), constant(0.1)), [
      [0.95, -2.025],
      [1.005, -2.0975],
      [1.0295, -2.08775],
    ]);
  });
  it('with weight decay: λ·p joins the gradient before the momentum', () => {
    // g₁ + 0.01·p₀ = [0.51, 0.23], p₁ = [0.949, −2.023].
    expectSteps(run(sgd({ weightDecay: 0.01 }), constant(0.1)), [
      [0.949, -2.023],
      [1.002151, -2.091677],
      [1.023984749, -2.076394623],
    ]);
  });
  it('with Nesterov momentum: the step is g + μ·b', () => {
    // g₁ = [0.51, 0.23] (decay included), b₁ = g₁, step g₁ + 0.9·b₁ = [0.969, 0.437], p₁ = [0.9031, −2.0437].
    expectSteps(run(sgd({ weightDecay: 0.01, nesterov: true }), constant(0.1)), [
      [0.9031, -2.0437],
      [1.05007411, -2.15344697],
      [1.0436684581909998, -2.062467023757],
    ]);
  });
  it('with the one-cycle schedule’s learning rate and momentum at each step (Nesterov, weight decay)', () => {
    // OneCycleLR(max_lr 0.1, total_steps 4): lr 0.004, 0.0811746, 0.0283061; momentum 0.95, 0.8688255, 0.9216942.
    const rates = (k: number): StepRates => ratesAt(ONE_CYCLE, 0.1, k, 4);
    expect(rates(1).lr).toBeCloseTo(0.0811745653949763, 12);
    expect(rates(1).momentum).toBeCloseTo(0.8688255099070633, 12);
    expectSteps(run(sgd({ weightDecay: 0.01, nesterov: true }), rates), [
      [0.996022, -2.001794],
      [1.1149617441663158, -2.0887011135569895],
      [1.1139083557987857, -2.063115367463499],
    ]);
  });
  it('a cycled momentum moves the buffer: the same run with the optimiser’s own 0.9 ends far outside the tolerance above', () => {
    const cycled = run(sgd({ nesterov: true }), (k) => ratesAt(ONE_CYCLE, 0.1, k, 4));
    const fixed = run(sgd({ nesterov: true }), (k) => ({ lr: ratesAt(ONE_CYCLE, 0.1, k, 4).lr, momentum: null }));
    expect(Math.abs(cycled[2]![0]! - fixed[2]![0]!)).toBeGreaterThan(1e-4);
  });
});

describe('Adam as PyTorch’s', () => {
  it('bias-corrected moments', () => {
    // Step 1: m̂ = g, v̂ = g², so p₁ = p₀ − 0.01·g/(|g| + 1e-8) ≈ p₀ − 0.01·sign(g).
    expectSteps(run(adam(), constant(0.01)), [
      [0.9900000002, -2.0099999996],
      [0.9936610354240566, -2.0196518196140807],
      [0.9950279420338977, -2.0189858294706187],
    ]);
  });
  it('with L2 weight decay added to the gradient', () => {
    expectSteps(run(adam({ weightDecay: 0.1 }), constant(0.01)), [
      [0.9900000001666667, -2.0099999980000005],
      [0.9924819887658624, -2.0184441687579735],
      [0.9923451627289993, -2.014336933302669],
    ]);
  });
  it('with the one-cycle schedule cycling β1 (the bias correction uses the step’s β1)', () => {
    expectSteps(
      run(adam(), (k) => ratesAt(ONE_CYCLE, 0.01, k, 4)),
      [
        [0.999600000008, -2.000399999984],
        [1.0041838215812724, -2.006803100117649],
        [1.0057873747564914, -2.0070863810300255],
      ],
    );
  });
});

describe('optimiser state', () => {
  it('a restored optimiser continues the cycled momentum exactly: two steps, save, one more equals three in a row', () => {
    const config = sgd({ weightDecay: 0.01, nesterov: true });
    const rates = (k: number): StepRates => ratesAt(ONE_CYCLE, 0.1, k, 4);
    const straight = run(config, rates);

    const first = new Optimizer(config);
    const p = tf.variable(tf.tensor1d([1, -2]));
    const params = new Map([['p', p]]);
    for (let k = 0; k < 2; k++) tf.tidy(() => first.apply(params, { p: tf.tensor1d(GRADS[k]!) }, rates(k)));
    const saved = first.state();
    const slots = new Map([...saved.slots].map(([name, v]) => [name, tf.clone(v)]));
    first.dispose();

    const second = new Optimizer(config);
    second.restore(saved.steps, slots);
    tf.dispose([...slots.values()]);
    tf.tidy(() => second.apply(params, { p: tf.tensor1d(GRADS[2]!) }, rates(2)));
    const resumed = Array.from(p.dataSync());
    p.dispose();
    second.dispose();
    resumed.forEach((v, i) => expect(v).toBeCloseTo(straight[2]![i]!, 6));
  });
});
