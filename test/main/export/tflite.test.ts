import { describe, expect, it } from 'vitest';
import { lowerForInference } from '../../../main/export/ir/lower.js';
import { plainFull } from '../../../main/export/networks.js';
import { toTflite } from '../../../main/export/tflite/model.js';
import { TfliteSession } from '../../../main/export/tflite/session.js';
import { compareLogits, engineLogits } from '../../../main/export/verify.js';
import { ARCHITECTURE_CASES, batchOf, perturbedNetwork } from '../../helpers/networks.js';
import { useWasmBackend } from '../../helpers/tf.js';

useWasmBackend();

const maxAbs = (a: Float32Array): number => a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);

describe('TFLite export of every architecture at small width, run in LiteRT.js', () => {
  it.each(ARCHITECTURE_CASES)('$config.arch ($config.stem stem, compressFirstStage=$config.compressFirstStage): LiteRT.js matches the engine', async (c) => {
    const batch = batchOf(c.config, 4, 9);
    const net = perturbedNetwork(c.config, c.alpha, batch);
    const shape = { height: batch.height, width: batch.width, channels: batch.channels, threads: 1, uint8Input: null };
    for (const [lowered, reference] of [
      [lowerForInference(net.small.graph, net.small.params), await engineLogits(net.graph, net.params, batch, net.plan)],
      [lowerForInference(plainFull(net.graph), net.params), await engineLogits(net.graph, net.params, batch, null)],
    ] as const) {
      const session = await TfliteSession.open(toTflite(lowered, { precision: 'fp32', quant: null }), shape);
      const got = await session.logits(batch.x, batch.n);
      session.release();
      const cmp = compareLogits(reference, got, batch.n);
      expect(cmp.top1Agreement).toBe(1);
      expect(cmp.maxAbsLogitDiff).toBeLessThanOrEqual(1e-5 * Math.max(10, maxAbs(reference)));
    }
    net.dispose();
  });
});
