import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { lowerForInference } from '../../../main/export/ir/lower.js';
import type { InferenceGraph } from '../../../main/export/ir/inference-graph.js';
import { InferenceRunner } from '../../../main/export/ir/run.js';
import { plainFull } from '../../../main/export/networks.js';
import { compareLogits, engineLogits } from '../../../main/export/verify.js';
import { buildGraph } from '../../../shared/model/graph.js';
import { ARCHITECTURE_CASES, batchOf, perturbedNetwork } from '../../helpers/networks.js';
import { useWasmBackend } from '../../helpers/tf.js';

useWasmBackend();

const maxAbs = (a: Float32Array): number => a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);

function runLowered(lowered: InferenceGraph, batch: ReturnType<typeof batchOf>): Float32Array {
  const runner = new InferenceRunner(lowered);
  try {
    return tf.tidy(() => runner.run(tf.tensor4d(batch.x, [batch.n, batch.height, batch.width, batch.channels])).dataSync() as Float32Array);
  } finally {
    runner.dispose();
  }
}

describe('lowering a network for inference', () => {
  it.each(ARCHITECTURE_CASES)(
    '$config.arch ($config.stem stem, compressFirstStage=$config.compressFirstStage): the lowered network computes what the engine does',
    async (c) => {
      const batch = batchOf(c.config, 4, 7);
      const net = perturbedNetwork(c.config, c.alpha, batch);
      const small = await lowerForInference(net.small.graph, net.small.params);
      const full = await lowerForInference(plainFull(net.graph), net.params);
      const smallRef = await engineLogits(net.graph, net.params, batch, net.plan);
      const fullRef = await engineLogits(net.graph, net.params, batch, null);
      const smallCmp = compareLogits(smallRef, runLowered(small, batch), batch.n);
      const fullCmp = compareLogits(fullRef, runLowered(full, batch), batch.n);
      // Float rounding of folded weights, relative to the logits' size (deep ResNet-100 logits reach tens).
      expect(smallCmp.maxAbsLogitDiff).toBeLessThanOrEqual(1e-5 * Math.max(10, maxAbs(smallRef)));
      expect(fullCmp.maxAbsLogitDiff).toBeLessThanOrEqual(1e-5 * Math.max(10, maxAbs(fullRef)));
      expect(smallCmp.top1Agreement).toBe(1);
      net.dispose();
    },
  );

  it('folds every ResNet batch norm and fuses every ReLU; DenseNet keeps its pre-activation batch norms as 1×1 depthwise convolutions', async () => {
    const batch = batchOf({ arch: 'resnet18', stem: 'cifar', inputSize: 16, channels: 3, classes: 5, width: 0.125, compressFirstStage: false }, 2, 1);
    const resnet = perturbedNetwork(
      { arch: 'resnet18', stem: 'cifar', inputSize: 16, channels: 3, classes: 5, width: 0.125, compressFirstStage: false },
      4,
      batch,
    );
    const lowered = await lowerForInference(resnet.small.graph, resnet.small.params);
    const kinds = lowered.ops.map((o) => o.op);
    expect(kinds.filter((k) => k === 'relu')).toHaveLength(0);
    expect(lowered.ops.filter((o) => o.op === 'conv' && o.depthwise)).toHaveLength(0);
    // ResNet-18: stem + 16 block convs + 3 downsampling convs.
    expect(kinds.filter((k) => k === 'conv')).toHaveLength(20);
    expect(lowered.ops.filter((o) => o.op === 'add' && o.relu)).toHaveLength(8);
    resnet.dispose();

    const dense = buildGraph({ arch: 'densenet121', stem: 'cifar', inputSize: 16, channels: 3, classes: 5, width: 0.125, compressFirstStage: false });
    const bnAlone = dense.nodes.filter((n) => n.op === 'bn' && dense.nodes[n.input]!.op !== 'conv').length;
    const dnet = perturbedNetwork(dense.config, 2, batchOf(dense.config, 2, 1));
    const dl = await lowerForInference(plainFull(dnet.graph), dnet.params);
    expect(dl.ops.filter((o) => o.op === 'conv' && o.depthwise && o.kernel === 1 && o.relu)).toHaveLength(bnAlone);
    dnet.dispose();
  });
});
