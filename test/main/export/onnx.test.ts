import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { ONNX_OPSET } from '../../../shared/export.js';
import type { ModelConfig } from '../../../shared/model/config.js';
import { buildGraph } from '../../../shared/model/graph.js';
import { planSmall } from '../../../shared/model/plan.js';
import { extractSmall } from '../../../main/engine/extract.js';
import { createParams } from '../../../main/engine/params.js';
import { Rng } from '../../../main/engine/rng.js';
import { batchNormAffine, depthwiseToOnnx, hwioToOhwi, hwioToOihw, nhwcToNchw, transpose } from '../../../main/export/fold.js';
import { onnxExporter } from '../../../main/export/formats/onnx.js';
import { plainFull } from '../../../main/export/networks.js';
import type { onnx } from 'onnx-proto';
import { decodeOnnx } from '../../../main/export/onnx-builder.js';
import { onnxFromInference, toOnnx } from '../../../main/export/onnx-model.js';
import { lowerForInference } from '../../../main/export/ir/lower.js';
import { calibrate } from '../../../main/export/quant/calibrate.js';
import { planQuantization } from '../../../main/export/quant/plan.js';
import { compareLogits, engineLogits } from '../../../main/export/verify.js';
import { ARCHITECTURE_CASES, batchOf, perturb, perturbedNetwork, runExported } from '../../helpers/networks.js';
import { useWasmBackend } from '../../helpers/tf.js';

useWasmBackend();

const onnxFile = (data: Uint8Array) => [{ name: 'model.onnx', data }];
const graphOf = (m: onnx.ModelProto): onnx.GraphProto => m.graph as onnx.GraphProto;

describe('ONNX export of every architecture at small width', () => {
  it.each(ARCHITECTURE_CASES)(
    '$config.arch ($config.stem stem, compressFirstStage=$config.compressFirstStage, α=$alpha): onnxruntime-node matches the engine',
    async (c) => {
      const batch = batchOf(c.config, 5, 9);
      const net = perturbedNetwork(c.config, c.alpha, batch);

      // The small network against the engine's small path.
      const smallOnnx = await toOnnx(net.small.graph, net.small.params);
      const reference = await engineLogits(net.graph, net.params, batch, net.plan);
      const cmp = compareLogits(reference, await runExported(onnxExporter, onnxFile(smallOnnx), batch), batch.n);
      expect(cmp.top1Agreement).toBe(1);
      expect(cmp.maxAbsLogitDiff).toBeLessThanOrEqual(1e-4);

      // The full network against the engine's full path.
      const fullOnnx = await toOnnx(plainFull(net.graph), net.params);
      const fullCmp = compareLogits(
        await engineLogits(net.graph, net.params, batch, null),
        await runExported(onnxExporter, onnxFile(fullOnnx), batch),
        batch.n,
      );
      expect(fullCmp.top1Agreement).toBe(1);
      expect(fullCmp.maxAbsLogitDiff).toBeLessThanOrEqual(1e-4);
      expect(smallOnnx.byteLength).toBeLessThan(fullOnnx.byteLength);
      net.dispose();
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
    // ResNet batch norms are all folded into convs; DenseNet's pre-activation ones are 1×1 depthwise (grouped) convs.
    expect([...ops].sort()).toEqual(
      ['Add', 'AveragePool', 'Concat', 'Conv', 'Flatten', 'Gemm', 'GlobalAveragePool', 'MaxPool', 'Relu', 'Slice', 'Softmax'].sort(),
    );
    const grouped = (m: onnx.ModelProto) =>
      graphOf(m).node.filter((n) => n.opType === 'Conv' && Number(n.attribute?.find((a) => a.name === 'group')?.i ?? 1) > 1);
    expect(grouped(models[0]!).length).toBe(graph.nodes.filter((n) => n.op === 'bn' && graph.nodes[n.input]!.op !== 'conv').length);
    expect(grouped(models[1]!)).toHaveLength(0);
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
    const f16 = await toOnnx(plainFull(graph), params, { precision: 'fp16' });
    expect(f16.byteLength).toBeLessThan(0.6 * f32.byteLength);
    const m = decodeOnnx(f16);
    expect(graphOf(m).initializer.filter((t) => t.dataType === 1)).toHaveLength(0);
    expect(graphOf(m).node.filter((n) => n.opType === 'Cast').length).toBe(graphOf(m).initializer.length);
    const cmp = compareLogits(await engineLogits(graph, params, batch, null), await runExported(onnxExporter, onnxFile(f16), batch), batch.n);
    expect(cmp.top1Agreement).toBeGreaterThanOrEqual(0.99);
    expect(cmp.maxAbsLogitDiff).toBeLessThan(0.05);
    params.dispose();
  });
});

describe('int8 ONNX (QDQ)', () => {
  it('puts Q/DQ after each ReLU, never between an op and its ReLU, and onnxruntime runs every Conv, Add and the Gemm as integer kernels', async () => {
    const config: ModelConfig = { arch: 'resnet18', stem: 'cifar', inputSize: 16, channels: 3, classes: 5, width: 0.25, compressFirstStage: false };
    const batch = batchOf(config, 16, 3);
    const net = perturbedNetwork(config, 4, batch);
    const lowered = await lowerForInference(net.small.graph, net.small.params);
    const quant = planQuantization(lowered, calibrate(lowered, batch).minmax, 'minmax');
    const bytes = onnxFromInference(lowered, { precision: 'int8', quant, activationType: 'uint8' });
    const g = graphOf(decodeOnnx(bytes));
    const producer = new Map(g.node.flatMap((n) => n.output!.map((o) => [o, n.opType!] as const)));
    const consumers = (v: string) => g.node.filter((n) => n.input!.includes(v)).map((n) => n.opType);
    const relus = g.node.filter((n) => n.opType === 'Relu');
    expect(relus.length).toBeGreaterThan(0);
    for (const r of relus) {
      expect(['Conv', 'Add']).toContain(producer.get(r.input![0]!));
      expect(consumers(r.output![0]!)).toEqual(['QuantizeLinear']);
    }
    // What onnxruntime makes of it: nothing left in float but the softmax.
    const dir = mkdtempSync(join(tmpdir(), 'adjoin-ort-'));
    try {
      const optimized = join(dir, 'optimized.onnx');
      const session = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'all', optimizedModelFilePath: optimized });
      await session.release();
      const ops = graphOf(decodeOnnx(readFileSync(optimized))).node.map((n) => n.opType!);
      expect(ops.filter((o) => o === 'QLinearConv')).toHaveLength(lowered.ops.filter((o) => o.op === 'conv').length);
      expect(ops.filter((o) => o === 'QLinearAdd')).toHaveLength(lowered.ops.filter((o) => o.op === 'add').length);
      expect(ops).toContain('QGemm');
      for (const float of ['Conv', 'Add', 'Relu', 'Gemm']) expect(ops).not.toContain(float);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    net.dispose();
  });
});

describe('weight arithmetic', () => {
  it('HWIO → OIHW moves each value to its place', () => {
    // k=1, cin=2, cout=3: w[i][o] = 3i + o.
    const w = Float32Array.from({ length: 6 }, (_, k) => k);
    const out = hwioToOihw(w, 1, 2, 3, new Float32Array(6));
    const at = (o: number, i: number): number => out[o * 2 + i]!;
    expect(at(0, 0)).toBe(0);
    expect(at(2, 1)).toBe(5);
    expect(at(1, 0)).toBe(1);
    expect(at(0, 1)).toBe(3);
    expect(() => hwioToOihw(w, 2, 2, 3, new Float32Array(6))).toThrow(/6 values/);
  });

  it('HWIO → OHWI (TFLite), depthwise → grouped conv (ONNX), and the dense transpose', () => {
    // k=1, cin=2, cout=3: w[i][o] = 3i + o; OHWI with k=1 is [o][i].
    const w = Float32Array.from({ length: 6 }, (_, k) => k);
    expect(Array.from(hwioToOhwi(w, 1, 2, 3, new Float32Array(6)))).toEqual([0, 3, 1, 4, 2, 5]);
    // k=2, c=2: [y][x][c] → [c][y][x].
    const d = Int8Array.from([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(Array.from(depthwiseToOnnx(d, 2, 2, new Int8Array(8)))).toEqual([1, 3, 5, 7, 2, 4, 6, 8]);
    expect(Array.from(transpose(Int8Array.from([1, 2, 3, 4, 5, 6]), 2, 3, new Int8Array(6)))).toEqual([1, 4, 2, 5, 3, 6]);
  });

  it('a batch norm in inference is x·s + (β − μ·s), s = γ/√(σ² + ε)', () => {
    const { scale, shift } = batchNormAffine({
      gamma: Float32Array.from([2, 3]),
      beta: Float32Array.from([0.5, -1]),
      mean: Float32Array.from([1, 0]),
      variance: Float32Array.from([3, 0]),
      epsilon: 1,
    });
    // s = [2 / 2, 3 / 1]
    expect(Array.from(scale)).toEqual([1, 3]);
    expect(Array.from(shift)).toEqual([-0.5, -1]);
    expect(() =>
      batchNormAffine({ gamma: new Float32Array(3), beta: new Float32Array(2), mean: new Float32Array(3), variance: new Float32Array(3), epsilon: 1 }),
    ).toThrow(/differ in length/);
  });

  it('NHWC → NCHW', () => {
    const x = Float32Array.from([1, 2, 3, 4, 5, 6]); // n=1, h=1, w=2, c=3
    expect(Array.from(nhwcToNchw(x, 1, 1, 2, 3))).toEqual([1, 4, 2, 5, 3, 6]);
  });
});
