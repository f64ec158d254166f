import { describe, expect, it } from 'vitest';
import type { InferenceGraph } from '../../../main/export/ir/inference-graph.js';
import { lowerForInference } from '../../../main/export/ir/lower.js';
import { plainFull } from '../../../main/export/networks.js';
import { CALIBRATION_PERCENTILE, calibrate } from '../../../main/export/quant/calibrate.js';
import { activationQuant, planQuantization, quantizeWeights, sharedScaleGroups } from '../../../main/export/quant/plan.js';
import type { ModelConfig } from '../../../shared/model/config.js';
import { batchOf, perturbedNetwork } from '../../helpers/networks.js';
import { useWasmBackend } from '../../helpers/tf.js';

useWasmBackend();

describe('int8 parameters', () => {
  it('activations: asymmetric, 256 levels over the range, 0 exactly representable', () => {
    // [0, 2.55] (after a ReLU): 0.01 per level, 0 at −128.
    const relu = activationQuant({ min: 0, max: 2.55 });
    expect(relu.scale).toBe(Math.fround(2.55 / 255));
    expect(relu.zeroPoint).toBe(-128);
    // [−1, 3]: 4/255 per level; 0 → −128 + 1/(4/255) = −64.25 → −64.
    const mixed = activationQuant({ min: -1, max: 3 });
    expect(mixed.scale).toBe(Math.fround(4 / 255));
    expect(mixed.zeroPoint).toBe(-64);
    // A range that misses 0 is widened to hold it (zero padding must stay exact).
    expect(activationQuant({ min: 1, max: 2 })).toMatchObject({ min: 0, max: 2, zeroPoint: -128 });
    // A tensor that was 0 everywhere still gets a positive scale.
    expect(activationQuant({ min: 0, max: 0 }).scale).toBeGreaterThan(0);
    expect(Object.is(activationQuant({ min: -1, max: 1 }).zeroPoint, -0)).toBe(false);
  });

  it('weights: symmetric per output channel (the last axis), biases int32 at s_in·s_w', () => {
    // A 1×1 conv, 2 inputs × 2 outputs: w[i][o] at i·2 + o.
    const w = Float32Array.from([0.5, -2, 0.25, 1]);
    const q = quantizeWeights(w, Float32Array.from([0.1, -0.2]), 0.1, true);
    expect(Array.from(q.scales)).toEqual([Math.fround(0.5 / 127), Math.fround(2 / 127)]);
    expect(Array.from(q.values)).toEqual([127, -127, 64, 64]); // 0.25/(0.5/127) = 63.5 → 64; 1/(2/127) = 63.5 → 64
    expect(q.biasScales[0]).toBe(Math.fround(0.1 * q.scales[0]!));
    expect(Array.from(q.bias)).toEqual([Math.round(0.1 / q.biasScales[0]!), Math.round(-0.2 / q.biasScales[1]!)]);
    expect(q.bias[0]).toBe(254);
    // Per tensor (the dense layer): one scale for all.
    const t = quantizeWeights(w, Float32Array.from([0, 0]), 0.1, false);
    expect(t.scales).toHaveLength(1);
    expect(Array.from(t.values)).toEqual([32, -127, 16, 64]);
  });

  it('weights: a bias too large for int32 at s_in·s_w raises that channel’s weight scale instead of clipping the bias', () => {
    const q = quantizeWeights(new Float32Array(4), Float32Array.from([1e6, 1]), 1e-6, true);
    expect(Math.abs(q.bias[0]!)).toBeLessThan(2 ** 31);
    expect(q.bias[0]! * q.biasScales[0]!).toBeCloseTo(1e6, -1);
    expect(Array.from(q.values)).toEqual([0, 0, 0, 0]);
  });
});

describe('calibration', () => {
  /** input [1, n, 1] → ReLU: the smallest graph calibration can run. */
  function reluGraph(n: number): InferenceGraph {
    return {
      tensors: [
        { id: 0, name: 'input', shape: [1, n, 1], nonNegative: false },
        { id: 1, name: 'relu', shape: [1, n, 1], nonNegative: true },
      ],
      ops: [{ op: 'relu', name: 'relu', input: 0, output: 1, cap: null }],
      input: 0,
      output: 1,
    };
  }

  it('min/max keeps every value; the percentile method clips a lone outlier', () => {
    const n = 20_000;
    // Values spread over [−1, 1) and one outlier at 1000.
    const x = Float32Array.from({ length: n }, (_, i) => (i === 77 ? 1000 : (i % 2000) / 1000 - 1));
    const ranges = calibrate(reluGraph(n), { x, n: 1, height: 1, width: n, channels: 1 });
    expect(ranges.minmax[0]).toEqual({ min: -1, max: 1000 });
    expect(ranges.minmax[1]).toEqual({ min: 0, max: 1000 });
    // 0.01% of 20,000 values is 2: the outlier's bin is dropped, the range ends within a bin of 1.
    expect(CALIBRATION_PERCENTILE).toBe(99.99);
    expect(ranges.percentile[1]!.max).toBeLessThan(1 + 1000 / 2048 + 1e-6);
    expect(ranges.percentile[1]!.max).toBeGreaterThanOrEqual(0.999);
    expect(ranges.percentile[0]!.min).toBeCloseTo(-1, 6);
  });

  it('refuses an empty calibration set', () => {
    expect(() => calibrate(reluGraph(4), { x: new Float32Array(0), n: 0, height: 1, width: 4, channels: 1 })).toThrow(/at least one image/);
  });

  it("DenseNet: every concatenation's inputs and output share one group, and the plan gives them equal parameters", async () => {
    const config: ModelConfig = { arch: 'densenet121', stem: 'cifar', inputSize: 16, channels: 3, classes: 4, width: 0.125, compressFirstStage: false };
    const batch = batchOf(config, 8, 2);
    const net = perturbedNetwork(config, 2, batch);
    const g = await lowerForInference(plainFull(net.graph), net.params);
    const groups = sharedScaleGroups(g);
    const groupOf = new Map(groups.flatMap((m, i) => m.map((t) => [t, i] as const)));
    for (const op of g.ops) {
      if (op.op !== 'concat') continue;
      for (const t of op.inputs) expect(groupOf.get(t)).toBe(groupOf.get(op.output));
    }
    // One group per dense block (its concatenations chain), the transition's pooling joining the next block's.
    expect(groups).toHaveLength(4);
    const plan = planQuantization(g, calibrate(g, batch).minmax, 'minmax');
    for (const members of groups) {
      const first = plan.activations[members[0]!]!;
      for (const t of members) expect(plan.activations[t]).toEqual(first);
    }
    net.dispose();
  });
});
