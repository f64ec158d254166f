import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import type { SearchConfig } from '../../../../shared/dan.js';
import type { EngineEvent } from '../../../../shared/events.js';
import { costReport } from '../../../../shared/model/cost.js';
import type { ModelConfig } from '../../../../shared/model/config.js';
import { buildGraph } from '../../../../shared/model/graph.js';
import { planSmall } from '../../../../shared/model/plan.js';
import { count } from '../../../../shared/model/selection.js';
import { DEFAULT_LOSS, recipe, type TrainConfig } from '../../../../shared/train-config.js';
import { synthesize } from '../../../../main/engine/data/synthetic.js';
import { SearchSpace } from '../../../../main/engine/dan/search-space.js';
import { expectedMacsAt, prepareSearch, search, searchStep } from '../../../../main/engine/dan/search.js';
import { extractSmall } from '../../../../main/engine/extract.js';
import { forward } from '../../../../main/engine/forward.js';
import { adjoinedLoss } from '../../../../main/engine/loss.js';
import { createParams, makeVar, NetworkParams, paramName } from '../../../../main/engine/params.js';
import { Rng } from '../../../../main/engine/rng.js';
import { expectedMacs } from '../../../../main/engine/soft-masks.js';
import { prepareTraining } from '../../../../main/engine/train.js';
import { maxAbsDiff, seeded, useWasmBackend } from '../../../helpers/tf.js';
import { paperSearchConfig } from '../../../helpers/configs.js';

useWasmBackend();

const model: ModelConfig = { arch: 'resnet18', stem: 'cifar', inputSize: 12, channels: 1, classes: 4, width: 0.25, compressFirstStage: false };
const data = synthesize({ classes: 4, size: 12, channels: 1, train: 64, val: 32, seed: 2 });
const baseSearch = (over: Partial<SearchConfig> = {}): SearchConfig => paperSearchConfig(model, over);

describe('soft channel masks', () => {
  it('one convolution times Σ gᵢ·mᵢ equals the weighted sum of masked convolutions', () => {
    const graph = buildGraph(model);
    const space = new SearchSpace(graph, [1, 2, 4, 8, 16]);
    const group = space.groups.find((g) => g.channels === 32)!;
    const x = tf.tensor4d(seeded(2 * 6 * 6 * 16, 1), [2, 6, 6, 16]);
    const w = tf.tensor4d(seeded(3 * 3 * 16 * 32, 2), [3, 3, 16, 32]);
    const g = tf.tensor1d([0.1, 0.3, 0.25, 0.15, 0.2]);
    const mask = tf.reshape(tf.matMul(tf.reshape(g, [1, 5]), group.candidates), [-1]);
    const once = tf.mul(tf.conv2d(x, w, 1, 'same'), mask);
    const perCandidate = tf.addN(
      [0, 1, 2, 3, 4].map((i) => {
        const m = tf.reshape(tf.slice(group.candidates, [i, 0], [1, -1]), [1, 1, 1, 32]);
        return tf.mul(tf.conv2d(x, tf.mul(w, m) as tf.Tensor4D, 1, 'same'), g.dataSync()[i]!);
      }),
    );
    expect(maxAbsDiff(once.dataSync(), perCandidate.dataSync())).toBeLessThanOrEqual(1e-5);
    space.dispose();
  });

  it.each([
    { name: 'ResNet-18', config: model },
    // MobileNetV2: expansions, stage outputs tied by residual adds, depthwise convs following their expansion's mask.
    { name: 'MobileNetV2', config: { ...model, arch: 'mobilenetv2', width: 0.25 } as ModelConfig },
  ])('with one-hot g the super-network equals the AN small path of that α: $name', ({ config }) => {
    const graph = buildGraph(config);
    const space = new SearchSpace(graph, [2, 4, 8]);
    const params = createParams(graph, space.plan, new Rng(4));
    // One-hot on α = 4 for every group: masks zero the channels past c/4.
    const alphaOf = (i: number): number => [2, 4, 8][i]!;
    const pick = 1;
    const hard = new Map(space.groups.map((g) => [g.group, tf.reshape(tf.slice(g.candidates, [pick, 0], [1, -1]), [-1]) as tf.Tensor1D]));
    const plan = planSmall(graph, alphaOf(pick));
    // The AN network's small batch norms are the leading channels of the super-network's.
    const trainable = new Map(params.trainable);
    const running = new Map(params.running);
    for (const node of graph.nodes) {
      if (node.op !== 'bn') continue;
      const n = count(plan.sel[node.id]!);
      for (const [store, name] of [
        [trainable, paramName.gamma(node.name, 'small')],
        [trainable, paramName.beta(node.name, 'small')],
        [running, paramName.mean(node.name, 'small')],
        [running, paramName.variance(node.name, 'small')],
      ] as const) {
        const v = params.get(name);
        store.set(
          name,
          makeVar(() => tf.slice(v, [0], [n]), store === trainable),
        );
      }
    }
    const an = new NetworkParams(trainable, running);
    const x = tf.tensor4d(seeded(3 * 12 * 12, 9), [3, 12, 12, 1]);
    expect(space.groups.map((g) => g.group)).toEqual(graph.groups);
    for (const training of [true, false]) {
      const sup = forward(graph, params, x, { training, small: { kind: 'masked', plan: space.plan, masks: hard } }).small!;
      const ref = forward(graph, an, x, { training, small: { kind: 'sliced', plan } }).small!;
      expect(maxAbsDiff(sup.dataSync(), ref.dataSync())).toBeLessThanOrEqual(1e-4);
    }
    // And the expected MACs of hard masks are the cost report's small MACs.
    const macs = expectedMacs(
      graph,
      space.plan,
      forward(graph, params, x, { training: false, small: { kind: 'masked', plan: space.plan, masks: hard } }).masks,
    );
    expect(macs.dataSync()[0]).toBeCloseTo(costReport(graph, 4).small!.macs, -1);
    space.dispose();
  });
});

describe('architecture gradients', () => {
  it('reach η and agree with finite differences', () => {
    const setup = prepareSearch(baseSearch({ tau: { initial: 2, decay: 0 } }), data, new Rng(5));
    const x = tf.tensor4d(setup.batches.build(data.train, [0, 1, 2, 3, 4, 5, 6, 7], false, null).x, [8, 12, 12, 1]);
    const y = tf.tensor1d(Array.from(data.train.labels.subarray(0, 8)), 'int32');
    const noise = setup.space.drawNoise(new Rng(6));
    // Inference-mode batch norms make the loss a smooth function of η alone.
    const loss = (): tf.Scalar =>
      tf.tidy(() => {
        const { masks } = setup.space.softMasks(2, noise);
        const out = forward(setup.graph, setup.params, x, { training: false, small: { kind: 'masked', plan: setup.space.plan, masks } });
        const terms = adjoinedLoss(y, out.full!, out.small!, { lambda: 1, c: 1, beta: 0 });
        return tf.add(terms.total, tf.mul(tf.div(expectedMacs(setup.graph, setup.space.plan, out.masks), setup.fullMacs), 3)) as tf.Scalar;
      });
    const group = setup.space.groups[2]!;
    const { grads } = tf.variableGrads(loss, [group.eta]);
    const analytic = grads[group.eta.name]!.dataSync();
    expect(Math.max(...Array.from(analytic, Math.abs))).toBeGreaterThan(1e-4);
    const eta = group.eta.dataSync().slice();
    for (let i = 0; i < eta.length; i++) {
      const at = (d: number): number => {
        const e = eta.slice();
        e[i]! += d;
        group.eta.assign(tf.tensor1d(e));
        return loss().dataSync()[0]!;
      };
      const numeric = (at(1e-2) - at(-1e-2)) / 2e-2;
      group.eta.assign(tf.tensor1d(eta));
      expect(Math.abs(numeric - analytic[i]!)).toBeLessThan(2e-3 + 2e-2 * Math.abs(numeric));
    }
  });
});

describe('direction of the FLOPs pressure', () => {
  /** Expected small-network MACs under softmax(η) over the full network's, before and after `steps` search steps. */
  const run = async (over: Partial<SearchConfig>, steps: number): Promise<{ alphas: number[]; before: number; after: number }> => {
    const setup = prepareSearch(baseSearch(over), data, new Rng(7));
    const before = (await expectedMacsAt(setup, 1)) / setup.fullMacs;
    const rng = new Rng(8);
    for (let s = 0; s < steps; s++) {
      const idx = Array.from({ length: 16 }, (_, i) => (s * 16 + i) % 64);
      const b = setup.batches.build(data.train, idx, true, rng);
      const x = tf.tensor4d(b.x, [16, 12, 12, 1]);
      const y = tf.tensor1d(b.y, 'int32');
      // Late in training: λ(t) = 1, so the KL and FLOPs terms weigh fully.
      await searchStep(setup, x, y, 0.9, { lr: 0.02, momentum: null }, 1, setup.space.drawNoise(rng));
      tf.dispose([x, y]);
    }
    return { alphas: Object.values(await setup.space.choice()), before, after: (await expectedMacsAt(setup, 1)) / setup.fullMacs };
  };

  it('a large γ drives every group to the largest α in A, and γ = 0 with a strong KL keeps widths large', async () => {
    const pressed = await run({ gamma: 50, space: [2, 4, 8] }, 20);
    expect(pressed.alphas.every((a) => a === 8)).toBe(true);
    expect(pressed.after).toBeLessThan(pressed.before);
    const free = await run({ gamma: 0, space: [2, 4, 8], loss: { ...DEFAULT_LOSS, c: 4 } }, 40);
    // The KL term alone widens the small network from the uniform start.
    expect(free.after).toBeGreaterThan(free.before + 0.01);
    expect(free.after).toBeGreaterThan(pressed.after + 0.04);
  });
});

describe('search result', () => {
  it('emits the distribution of every group per epoch and an α map that round-trips through the model builder', async () => {
    const events: EngineEvent[] = [];
    const outcome = await search({ config: baseSearch({ space: [1, 2, 4] }), data, emit: (e) => events.push(e), stepEventInterval: 0 });
    expect(outcome.status).toBe('finished');
    if (outcome.status !== 'finished') return;
    const epochs = events.filter((e) => e.type === 'search-epoch');
    expect(epochs).toHaveLength(2);
    const graph = buildGraph(model);
    for (const e of epochs) {
      expect(e.groups.map((g) => g.group)).toEqual(graph.groups);
      for (const g of e.groups) expect(g.probabilities.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
      expect(e.tau).toBeCloseTo(15 * Math.exp(-0.045 * (e.epoch - 1)), 9);
    }
    const result = events.at(-1)!;
    expect(result.type).toBe('search-result');
    if (result.type !== 'search-result') return;
    expect(result.history).toHaveLength(2);
    expect(Object.keys(result.alphas)).toEqual(graph.groups);

    // The map trains adjoinedly: the AN plan is the map, and the extracted network's size is the cost report's.
    const config: TrainConfig = {
      model,
      mode: 'an',
      alpha: outcome.alphas,
      epochs: 1,
      batchSize: 16,
      ...recipe('cifar'),
      loss: DEFAULT_LOSS,
      seed: 0,
      checkpointEvery: 1,
    };
    const setup = prepareTraining(config, data, new Rng(0));
    expect(setup.plan!.alphas).toEqual(outcome.alphas);
    expect(setup.cost.small).toEqual(outcome.cost.small);
    const extracted = extractSmall(setup.graph, setup.plan!, setup.params);
    expect(extracted.params.countTrainable()).toBe(costReport(setup.graph, outcome.alphas).small!.params);
  });
});
