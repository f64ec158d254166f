import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { ONNX_OPSET } from '../../../shared/export.js';
import { ARCHITECTURES, type ModelConfig } from '../../../shared/model/config.js';
import { buildGraph } from '../../../shared/model/graph.js';
import { planSmall } from '../../../shared/model/plan.js';
import { extractSmall } from '../../../main/engine/extract.js';
import { forward, updateRunningStats } from '../../../main/engine/forward.js';
import { createParams, type NetworkParams } from '../../../main/engine/params.js';
import { Rng } from '../../../main/engine/rng.js';
import { foldBatchNorm, hwioToOihw, nhwcToNchw } from '../../../main/export/fold.js';
import { plainFull } from '../../../main/export/networks.js';
import type { onnx } from 'onnx-proto';
import { decodeOnnx } from '../../../main/export/onnx-builder.js';
import { toOnnx } from '../../../main/export/onnx-model.js';
import { compareLogits, engineLogits, onnxLogits, type VerificationBatch } from '../../../main/export/verify.js';
import { seeded, useWasmBackend } from '../../helpers/tf.js';

useWasmBackend();

function batchOf(config: ModelConfig, n: number, seed: number): VerificationBatch {
  const { inputSize: s, channels: c } = config;
  return { x: seeded(n * s * s * c, seed).map((v) => 2 * v), n, height: s, width: s, channels: c, validationSamples: 0, note: null };
}

/** Moves batch-norm statistics and scales off their initial values, so folding is really exercised. */
function perturb(graph: ReturnType<typeof buildGraph>, params: NetworkParams, batch: VerificationBatch, small: ReturnType<typeof planSmall> | null): void {
  tf.tidy(() => {
    const x = tf.tensor4d(batch.x, [batch.n, batch.height, batch.width, batch.channels]);
    const out = forward(graph, params, x, { training: true, small: small === null ? null : { kind: 'sliced', plan: small } });
    updateRunningStats(params, out.stats, 0.9);
  });
  const rng = new Rng(11);
  for (const [name, v] of params.trainable) {
    if (name.endsWith('.gamma') || name.endsWith('.beta')) {
      tf.tidy(() =>
        v.assign(
          tf.add(
            v,
            tf.tensor(
              Array.from({ length: v.size }, () => 0.3 * rng.normal()),
              v.shape,
            ),
          ),
        ),
      );
    }
  }
}

const graphOf = (m: onnx.ModelProto): onnx.GraphProto => m.graph as onnx.GraphProto;

const cases: Array<{ config: ModelConfig; alpha: number }> = [
  ...ARCHITECTURES.map((arch) => ({
    config: { arch, stem: 'cifar', inputSize: 16, channels: 3, classes: 5, width: 0.125, compressFirstStage: false } as ModelConfig,
    alpha: 4,
  })),
  // ImageNet stem (max-pool with padding), one channel, a compressed first stage (identity shortcuts become Slice).
  { config: { arch: 'resnet18', stem: 'imagenet', inputSize: 32, channels: 1, classes: 4, width: 0.25, compressFirstStage: true }, alpha: 2 },
  { config: { arch: 'densenet121', stem: 'imagenet', inputSize: 32, channels: 3, classes: 3, width: 0.25, compressFirstStage: true }, alpha: 8 },
  { config: { arch: 'mobilenetv2', stem: 'imagenet', inputSize: 32, channels: 1, classes: 4, width: 0.35, compressFirstStage: true }, alpha: 2 },
];

describe('ONNX export of every architecture at small width', () => {
  it.each(cases)(
    '$config.arch ($config.stem stem, compressFirstStage=$config.compressFirstStage, α=$alpha): onnxruntime-node matches the engine',
    async (c) => {
      const graph = buildGraph(c.config);
      const plan = planSmall(graph, c.alpha);
      const params = createParams(graph, plan, new Rng(3));
      const batch = batchOf(c.config, 5, 9);
      perturb(graph, params, batch, plan);

      // The small network against the engine's small path.
      const small = extractSmall(graph, plan, params);
      const smallOnnx = await toOnnx(small.graph, small.params);
      const reference = await engineLogits(graph, params, batch, plan);
      const got = await onnxLogits(smallOnnx, batch);
      const cmp = compareLogits(reference, got, batch.n);
      expect(cmp.top1Agreement).toBe(1);
      expect(cmp.maxAbsLogitDiff).toBeLessThanOrEqual(1e-4);

      // The full network against the engine's full path.
      const fullOnnx = await toOnnx(plainFull(graph), params);
      const fullCmp = compareLogits(await engineLogits(graph, params, batch, null), await onnxLogits(fullOnnx, batch), batch.n);
      expect(fullCmp.top1Agreement).toBe(1);
      expect(fullCmp.maxAbsLogitDiff).toBeLessThanOrEqual(1e-4);
      expect(smallOnnx.byteLength).toBeLessThan(fullOnnx.byteLength);

      small.params.dispose();
      params.dispose();
    },
  );

  it('writes opset 13, NCHW input, logits and probabilities, only the operators we document', async () => {
    const config: ModelConfig = { arch: 'densenet121', stem: 'imagenet', inputSize: 32, channels: 3, classes: 3, width: 0.25, compressFirstStage: true };
    const graph = buildGraph(config);
    const plan = planSmall(graph, 2);
    const params = createParams(graph, plan, new Rng(1));
    const resnet = buildGraph({ ...config, arch: 'resnet18' });
    const resnetPlan = planSmall(resnet, 2);
    const resnetParams = createParams(resnet, resnetPlan, new Rng(1));
    const small = extractSmall(resnet, resnetPlan, resnetParams);
    const models = [decodeOnnx(await toOnnx(plainFull(graph), params, { metadata: { mean: '[0.5]' } })), decodeOnnx(await toOnnx(small.graph, small.params))];
    for (const m of models) {
      expect(Number(m.opsetImport[0]!.version)).toBeGreaterThanOrEqual(ONNX_OPSET);
      expect(graphOf(m).input.map((i) => i.name)).toEqual(['input']);
      const dims = graphOf(m).input[0]!.type!.tensorType!.shape!.dim!;
      expect(dims.map((d) => d.dimParam || Number(d.dimValue))).toEqual(['N', 3, 32, 32]);
      expect(graphOf(m).output.map((o) => o.name)).toEqual(['logits', 'probabilities']);
    }
    const ops = new Set(models.flatMap((m) => graphOf(m).node.map((n) => n.opType!)));
    // ResNet batch norms are all folded into convs; DenseNet's pre-activation ones stay BatchNormalization.
    expect([...ops].sort()).toEqual(
      ['Add', 'AveragePool', 'BatchNormalization', 'Concat', 'Conv', 'Flatten', 'Gemm', 'GlobalAveragePool', 'MaxPool', 'Relu', 'Slice', 'Softmax'].sort(),
    );
    expect(graphOf(models[1]!).node.some((n) => n.opType === 'BatchNormalization')).toBe(false);
    expect(models[0]!.metadataProps.find((p) => p.key === 'mean')?.value).toBe('[0.5]');
    small.params.dispose();
    params.dispose();
    resnetParams.dispose();
  });

  it('writes MobileNetV2’s depthwise convolutions as Conv with one group per channel, its ReLU6 as Clip(0, 6), batch norms folded', async () => {
    // Width 0.5: no stage keeps its input's width in its first block, so no shortcut needs a Slice.
    const config: ModelConfig = { arch: 'mobilenetv2', stem: 'cifar', inputSize: 16, channels: 3, classes: 5, width: 0.5, compressFirstStage: false };
    const graph = buildGraph(config);
    const plan = planSmall(graph, 4);
    const params = createParams(graph, plan, new Rng(1));
    const small = extractSmall(graph, plan, params);
    const m = decodeOnnx(await toOnnx(small.graph, small.params));
    const g = graphOf(m);
    const init = new Map(g.initializer.map((t) => [t.name!, t]));
    const depthwise = small.graph.nodes.filter((n) => n.op === 'dwconv');
    expect(depthwise).toHaveLength(17);
    for (const dw of depthwise) {
      const conv = g.node.find((n) => n.opType === 'Conv' && n.input?.[1] === `${dw.name}.weight`)!;
      expect(Number(conv.attribute?.find((a) => a.name === 'group')?.i), dw.name).toBe(dw.shape.c);
      expect(init.get(`${dw.name}.weight`)!.dims!.map(Number)).toEqual([dw.shape.c, 1, 3, 3]);
      // Its batch norm is folded in: a bias.
      expect(conv.input?.[2]).toBe(`${dw.name}.bias`);
    }
    const clips = g.node.filter((n) => n.opType === 'Clip');
    expect(clips).toHaveLength(small.graph.nodes.filter((n) => n.op === 'relu6').length);
    for (const c of clips) {
      const bound = (name: string): number => new Float32Array(Uint8Array.from(init.get(name)!.rawData!).buffer)[0]!;
      expect([bound(c.input?.[1] ?? ''), bound(c.input?.[2] ?? '')]).toEqual([0, 6]);
    }
    expect(new Set(g.node.map((n) => n.opType))).toEqual(new Set(['Conv', 'Clip', 'Add', 'GlobalAveragePool', 'Flatten', 'Gemm', 'Softmax']));
    small.params.dispose();
    params.dispose();
  });

  it('float16 weights halve the file, keep float32 input and output, and agree on top-1', async () => {
    const config: ModelConfig = { arch: 'resnet18', stem: 'cifar', inputSize: 16, channels: 3, classes: 10, width: 0.25, compressFirstStage: false };
    const graph = buildGraph(config);
    const params = createParams(graph, null, new Rng(5));
    const batch = batchOf(config, 16, 4);
    perturb(graph, params, batch, null);
    const f32 = await toOnnx(plainFull(graph), params);
    const f16 = await toOnnx(plainFull(graph), params, { float16: true });
    expect(f16.byteLength).toBeLessThan(0.6 * f32.byteLength);
    const m = decodeOnnx(f16);
    expect(graphOf(m).initializer.filter((t) => t.dataType === 1)).toHaveLength(0);
    expect(graphOf(m).node.filter((n) => n.opType === 'Cast').length).toBe(graphOf(m).initializer.length);
    const cmp = compareLogits(await engineLogits(graph, params, batch, null), await onnxLogits(f16, batch), batch.n);
    expect(cmp.top1Agreement).toBeGreaterThanOrEqual(0.99);
    expect(cmp.maxAbsLogitDiff).toBeLessThan(0.05);
    params.dispose();
  });
});

describe('weight arithmetic', () => {
  it('HWIO → OIHW moves each value to its place', () => {
    // kh=1, kw=2, cin=2, cout=3: w[y][x][i][o] = 100y + 10x + ... encoded uniquely.
    const w = Float32Array.from({ length: 12 }, (_, k) => k);
    const out = hwioToOihw(w, 1, 2, 2, 3);
    const at = (o: number, i: number, x: number): number => out[(o * 2 + i) * 2 + x]!;
    expect(at(0, 0, 0)).toBe(0);
    expect(at(2, 1, 0)).toBe(5); // src ((0*2+0)*2+1)*3 + 2
    expect(at(1, 0, 1)).toBe(7); // src ((0*2+1)*2+0)*3 + 1
    expect(() => hwioToOihw(w, 2, 2, 2, 3)).toThrow(/12 values/);
  });

  it('folding a batch norm gives conv·s + (β − μ·s)', () => {
    const w = Float32Array.from([1, 2, 3, 4]); // two outputs, two weights each
    const { weight, bias } = foldBatchNorm(w, 2, {
      gamma: Float32Array.from([2, 3]),
      beta: Float32Array.from([0.5, -1]),
      mean: Float32Array.from([1, 0]),
      variance: Float32Array.from([3, 0]),
      epsilon: 1,
    });
    // s = γ / √(σ² + ε) = [2 / 2, 3 / 1]
    expect(Array.from(weight)).toEqual([1, 2, 9, 12]);
    expect(Array.from(bias)).toEqual([-0.5, -1]);
    expect(() =>
      foldBatchNorm(w, 3, { gamma: new Float32Array(3), beta: new Float32Array(3), mean: new Float32Array(3), variance: new Float32Array(3), epsilon: 1 }),
    ).toThrow(/cannot fold/);
  });

  it('NHWC → NCHW', () => {
    const x = Float32Array.from([1, 2, 3, 4, 5, 6]); // n=1, h=1, w=2, c=3
    expect(Array.from(nhwcToNchw(x, 1, 1, 2, 3))).toEqual([1, 4, 2, 5, 3, 6]);
  });
});
