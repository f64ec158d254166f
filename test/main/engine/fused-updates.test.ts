import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { ONE_CYCLE, ratesAt, type StepRates } from '../../../shared/schedules.js';
import type { OptimizerConfig } from '../../../shared/train-config.js';
import type { BatchStats } from '../../../main/engine/forward.js';
import { updateRunningStats } from '../../../main/engine/forward.js';
import { ADAM_UPDATE, RUNNING_STATS_UPDATE, SGD_UPDATE, sgdUpdate } from '../../../main/engine/fused-updates.js';
import { Optimizer } from '../../../main/engine/optim.js';
import { NetworkParams, paramName } from '../../../main/engine/params.js';
import { onBackend, seeded, useWasmBackend } from '../../helpers/tf.js';

useWasmBackend();

/** Parameter shapes of a small network: a conv weight, a batch norm's, a 1×1 conv with odd counts, a single value. */
const SHAPES = [[3, 3, 16, 8], [24], [1, 1, 5, 3], [1]];

/** Seeded values spread over several magnitudes, so rounding differences would show. */
function values(n: number, seed: number, scale: number): Float32Array {
  return seeded(n, seed).map((v, i) => v * scale * 10 ** ((i % 5) - 2));
}

function seededTensor(shape: number[], seed: number, scale: number): tf.Tensor {
  return tf.tensor(
    values(
      shape.reduce((a, b) => a * b, 1),
      seed,
      scale,
    ),
    shape,
  );
}

/**
 * Four steps of an optimiser on SHAPES with seeded gradients: every
 * parameter's values and the optimiser's slots after each step.
 */
function optimise(config: OptimizerConfig, rates: (k: number) => StepRates, fused: boolean): number[][] {
  const params = new Map(SHAPES.map((s, i) => [`p${i}`, tf.tidy(() => tf.variable(seededTensor(s, 10 + i, 1)))]));
  const optimizer = new Optimizer(config, { fused });
  const seen: number[][] = [];
  try {
    for (let k = 0; k < 4; k++) {
      const grads: tf.NamedTensorMap = Object.fromEntries(SHAPES.map((s, i) => [`p${i}`, seededTensor(s, 100 * k + i, 0.5)]));
      optimizer.apply(params, grads, rates(k));
      tf.dispose(Object.values(grads));
      for (const p of params.values()) seen.push(Array.from(p.dataSync()));
      for (const [name, slot] of [...optimizer.state().slots].sort((x, y) => x[0].localeCompare(y[0]))) seen.push([name.length, ...slot.dataSync()]);
    }
  } finally {
    for (const p of params.values()) p.dispose();
    optimizer.dispose();
  }
  return seen;
}

const sgd = (over: Partial<Extract<OptimizerConfig, { kind: 'sgd' }>>): OptimizerConfig => ({
  kind: 'sgd',
  lr: 0.05,
  momentum: 0.9,
  nesterov: true,
  weightDecay: 5e-4,
  ...over,
});
const adam = (over: Partial<Extract<OptimizerConfig, { kind: 'adam' }>>): OptimizerConfig => ({
  kind: 'adam',
  lr: 4e-3,
  beta1: 0.9,
  beta2: 0.999,
  epsilon: 1e-8,
  weightDecay: 0,
  ...over,
});
const fixed = (lr: number) => (): StepRates => ({ lr, momentum: null });
const cycled = (lr: number) => (k: number) => ratesAt(ONE_CYCLE, lr, k, 6);

describe('the fused optimiser update', () => {
  it.each([
    ['SGD, Nesterov, weight decay', sgd({}), fixed(0.05)],
    ['SGD, plain momentum, no decay', sgd({ nesterov: false, weightDecay: 0 }), fixed(0.1)],
    ['SGD without momentum', sgd({ momentum: 0 }), fixed(0.1)],
    ['SGD, one-cycle learning rate and momentum', sgd({}), cycled(0.05)],
    ['Adam', adam({}), fixed(4e-3)],
    ['Adam, weight decay, one-cycle β1', adam({ weightDecay: 0.1 }), cycled(4e-3)],
  ] as const)('%s: the same bits as the per-parameter tfjs ops, on wasm and on cpu', async (_, config, rates) => {
    for (const backend of ['wasm', 'cpu']) {
      const [composed, fused] = await onBackend(backend, () => [optimise(config, rates, false), optimise(config, rates, true)]);
      expect(fused.length, backend).toBe(composed.length);
      fused.forEach((f, i) => expect(f, `${backend}, record ${i}`).toEqual(composed[i]));
    }
  });

  it('moves the parameters as the rule says: one SGD step by hand', () => {
    // p = 1, g = 0.5, wd = 0.1, lr = 0.1, first step: b = g + wd·p = 0.6, Nesterov step 0.6 + 0.9·0.6 = 1.14, p = 1 − 0.114.
    const p = tf.variable(tf.tensor1d([1, -2]));
    const optimizer = new Optimizer(sgd({ weightDecay: 0.1, lr: 0.1 }));
    optimizer.apply(new Map([['p', p]]), { p: tf.tensor1d([0.5, 0]) }, { lr: 0.1, momentum: null });
    const [a, b] = p.dataSync();
    expect(a).toBeCloseTo(1 - 0.114, 6);
    // g = 0 − 0.2, b = −0.2, step −0.38, p = −2 + 0.038.
    expect(b).toBeCloseTo(-2 + 0.038, 6);
    expect(Array.from(optimizer.state().slots.get('p/momentum')!.dataSync())).toEqual([Math.fround(0.6), Math.fround(-0.2)]);
    p.dispose();
    optimizer.dispose();
  });

  it('is one kernel call for the whole network, where the per-parameter ops made six to eight per tensor', async () => {
    const count = async (config: OptimizerConfig): Promise<string[]> => {
      const params = new Map(SHAPES.map((s, i) => [`p${i}`, tf.variable(tf.zeros(s))]));
      const grads = Object.fromEntries(SHAPES.map((s, i) => [`p${i}`, tf.ones(s)]));
      const optimizer = new Optimizer(config);
      optimizer.apply(params, grads, { lr: 0.1, momentum: null });
      const profile = await tf.profile(() => optimizer.apply(params, grads, { lr: 0.1, momentum: null }));
      tf.dispose([...params.values(), ...Object.values(grads)]);
      optimizer.dispose();
      return profile.kernels.map((k) => k.name);
    };
    expect(await count(sgd({}))).toEqual([SGD_UPDATE]);
    expect(await count(adam({}))).toEqual([ADAM_UPDATE]);
  });

  it('leaves no tensors behind', () => {
    optimise(sgd({}), fixed(0.1), true);
    const before = tf.memory().numTensors;
    optimise(sgd({}), fixed(0.1), true);
    optimise(adam({}), fixed(0.01), true);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('refuses a gradient that is not float32, naming it', () => {
    const p = tf.zeros([3]);
    const g = tf.tensor1d([1, 2, 3], 'int32');
    expect(() => sgdUpdate([{ param: p, grad: g, buffer: null }], { lr: 0.1, momentum: 0.9, nesterov: false, weightDecay: 0 })).toThrow(
      /gradient 0 is int32, not float32/,
    );
    tf.dispose([p, g]);
  });
});

describe('the fused running-statistics update', () => {
  /** A network's running statistics moved three times toward seeded batch statistics. */
  function move(fused: boolean, momentum: number): number[][] {
    const layers = [
      { layer: 'a', C: 16, count: 64 * 28 * 28 },
      { layer: 'b', C: 14, count: 64 * 49 },
      { layer: 'c', C: 3, count: 1 },
    ];
    const running = new Map<string, tf.Variable>();
    for (const { layer, C } of layers) {
      for (const path of ['full', 'small'] as const) {
        running.set(paramName.mean(layer, path), tf.variable(tf.tensor1d(values(C, C, 1)), false));
        running.set(paramName.variance(layer, path), tf.variable(tf.tensor1d(values(C, C + 1, 1).map(Math.abs)), false));
      }
    }
    const params = new NetworkParams(new Map(), running);
    try {
      for (let k = 0; k < 3; k++) {
        const stats: BatchStats[] = layers.flatMap(({ layer, C, count }, i) =>
          (['full', 'small'] as const).map((path, j) => ({
            layer,
            path,
            mean: tf.tensor1d(values(C, 1000 * k + 10 * i + j, 2)),
            variance: tf.tensor1d(values(C, 2000 * k + 10 * i + j, 3).map(Math.abs)),
            count,
          })),
        );
        updateRunningStats(params, stats, momentum, { fused });
        tf.dispose(stats.flatMap((s) => [s.mean, s.variance]));
      }
      return [...running.values()].map((v) => Array.from(v.dataSync()));
    } finally {
      params.dispose();
    }
  }

  it.each([0.1, 0.9])('momentum %s: the same bits as the per-layer tfjs ops, on wasm and on cpu', async (momentum) => {
    for (const backend of ['wasm', 'cpu']) {
      const [composed, fused] = await onBackend(backend, () => [move(false, momentum), move(true, momentum)]);
      expect(fused, backend).toEqual(composed);
    }
  });

  it('is one kernel call for every batch norm of both paths', async () => {
    const running = new Map<string, tf.Variable>();
    const stats: BatchStats[] = [];
    for (const layer of ['a', 'b', 'c']) {
      for (const path of ['full', 'small'] as const) {
        running.set(paramName.mean(layer, path), tf.variable(tf.zeros([4]), false));
        running.set(paramName.variance(layer, path), tf.variable(tf.ones([4]), false));
        stats.push({ layer, path, mean: tf.ones([4]), variance: tf.ones([4]), count: 8 });
      }
    }
    const params = new NetworkParams(new Map(), running);
    const profile = await tf.profile(() => updateRunningStats(params, stats));
    expect(profile.kernels.map((k) => k.name)).toEqual([RUNNING_STATS_UPDATE]);
    // Unbiased variance: 0.9·1 + 0.1·1·8/7.
    expect(running.get(paramName.variance('b', 'small'))!.dataSync()[0]).toBeCloseTo(0.9 + 0.8 / 7, 6);
    params.dispose();
    tf.dispose(stats.flatMap((s) => [s.mean, s.variance]));
  });

  it('moves a batch norm listed twice twice, one move after the other, as the per-layer ops do', async () => {
    const run = (fused: boolean): number[] => {
      const running = new Map<string, tf.Variable>([
        [paramName.mean('a', 'full'), tf.variable(tf.tensor1d([1, 2, 3]), false)],
        [paramName.variance('a', 'full'), tf.variable(tf.tensor1d([1, 1, 1]), false)],
      ]);
      const params = new NetworkParams(new Map(), running);
      const stat = (m: number[], v: number[]): BatchStats => ({ layer: 'a', path: 'full', mean: tf.tensor1d(m), variance: tf.tensor1d(v), count: 4 });
      const stats = [stat([5, 6, 7], [2, 3, 4]), stat([-1, 0, 1], [0.5, 0.5, 0.5])];
      updateRunningStats(params, stats, 0.1, { fused });
      const out = [...running.values()].flatMap((v) => Array.from(v.dataSync()));
      tf.dispose(stats.flatMap((s) => [s.mean, s.variance]));
      params.dispose();
      return out;
    };
    const composed = run(false);
    expect(run(true)).toEqual(composed);
    // Mean 1 → 0.9·1 + 0.1·5 = 1.4 → 0.9·1.4 + 0.1·(−1) = 1.16.
    expect(composed[0]).toBeCloseTo(1.16, 6);
  });
});
