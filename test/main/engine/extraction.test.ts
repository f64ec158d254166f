import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { ARCHITECTURES, type ModelConfig } from '../../../shared/model/config.js';
import { costReport } from '../../../shared/model/cost.js';
import { buildGraph } from '../../../shared/model/graph.js';
import { planSmall } from '../../../shared/model/plan.js';
import { extractSmall } from '../../../main/engine/extract.js';
import { forward, updateRunningStats } from '../../../main/engine/forward.js';
import { countTrainable, toLayersModel } from '../../../main/engine/layers-model.js';
import { createParams } from '../../../main/engine/params.js';
import { Rng } from '../../../main/engine/rng.js';
import { maxAbsDiff, seeded, useWasmBackend } from '../../helpers/tf.js';

useWasmBackend();

interface Case {
  config: ModelConfig;
  alpha: number;
}

const cases: Case[] = [
  ...ARCHITECTURES.map((arch) => ({
    config: { arch, stem: 'cifar', inputSize: 16, channels: 3, classes: 5, width: 0.125, compressFirstStage: false } as ModelConfig,
    alpha: 4,
  })),
  { config: { arch: 'resnet18', stem: 'imagenet', inputSize: 32, channels: 1, classes: 4, width: 0.25, compressFirstStage: true }, alpha: 2 },
  { config: { arch: 'resnet50', stem: 'cifar', inputSize: 12, channels: 3, classes: 3, width: 0.125, compressFirstStage: true }, alpha: 2 },
  { config: { arch: 'densenet121', stem: 'imagenet', inputSize: 32, channels: 3, classes: 3, width: 0.25, compressFirstStage: true }, alpha: 8 },
];

describe('extracted small network', () => {
  it.each(cases)('$config.arch ($config.stem stem, compressFirstStage=$config.compressFirstStage, α=$alpha) equals the small path', (c) => {
    const graph = buildGraph(c.config);
    const plan = planSmall(graph, c.alpha);
    const params = createParams(graph, plan, new Rng(7));
    const n = 3;
    const x = tf.tensor4d(seeded(n * c.config.inputSize ** 2 * c.config.channels, 5), [n, c.config.inputSize, c.config.inputSize, c.config.channels]);
    // Move the running statistics off their initial values so inference batch norms are not identities.
    tf.tidy(() => {
      const out = forward(graph, params, x, { training: true, small: { kind: 'sliced', plan } });
      updateRunningStats(params, out.stats, 0.9);
    });
    const small = tf.tidy(() => forward(graph, params, x, { training: false, small: { kind: 'sliced', plan } }).small!.dataSync());
    const extracted = extractSmall(graph, plan, params);
    const got = tf.tidy(() => forward(extracted.graph, extracted.params, x, { training: false }).full!.dataSync());
    expect(maxAbsDiff(got, small)).toBeLessThanOrEqual(1e-4);

    // No masks, no dead channels: a plain network whose parameters are the cost report's small figure.
    expect(extracted.graph.nodes.every((node) => node.op !== 'conv' || !node.adjoined)).toBe(true);
    const cost = costReport(graph, c.alpha);
    expect(extracted.params.countTrainable()).toBe(cost.small!.params);
    expect(costReport(extracted.graph).full).toEqual(cost.small);

    // And as a standard TF.js layers model.
    const model = toLayersModel(extracted.graph, extracted.params);
    expect(countTrainable(model)).toBe(cost.small!.params);
    const viaLayers = tf.tidy(() => (model.predict(x) as tf.Tensor).dataSync());
    expect(maxAbsDiff(viaLayers, small)).toBeLessThanOrEqual(1e-4);
    model.dispose();
    extracted.params.dispose();
    params.dispose();
  });
});
