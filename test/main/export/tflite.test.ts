import * as flatbuffers from 'flatbuffers';
import { describe, expect, it } from 'vitest';
import { onnxExporter } from '../../../main/export/formats/onnx.js';
import { tfliteExporter } from '../../../main/export/formats/tflite.js';
import type { InferenceGraph } from '../../../main/export/ir/inference-graph.js';
import { lowerForInference } from '../../../main/export/ir/lower.js';
import { plainFull } from '../../../main/export/networks.js';
import { onnxFromInference } from '../../../main/export/onnx-model.js';
import { calibrate } from '../../../main/export/quant/calibrate.js';
import { planQuantization, type QuantPlan } from '../../../main/export/quant/plan.js';
import { BuiltinOperator, Model, TensorType } from '../../../main/export/tflite/generated/schema_generated.js';
import { spatialPadding, toTflite } from '../../../main/export/tflite/model.js';
import { compareLogits, engineLogits } from '../../../main/export/verify.js';
import type { ModelConfig } from '../../../shared/model/config.js';
import { armNnLogits, hasArmNn } from '../../helpers/armnn.js';
import { ARCHITECTURE_CASES, batchOf, perturbedNetwork, runExported } from '../../helpers/networks.js';
import { useWasmBackend } from '../../helpers/tf.js';

useWasmBackend();

const maxAbs = (a: Float32Array): number => a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
const tfliteFile = (data: Uint8Array) => [{ name: 'model.tflite', data }];
const read = (bytes: Uint8Array): Model => Model.getRootAsModel(new flatbuffers.ByteBuffer(bytes));

/** Every operator of the model's one subgraph: its code and its input and output tensor indices. */
function operators(m: Model): Array<{ code: BuiltinOperator; inputs: number[]; outputs: number[] }> {
  const g = m.subgraphs(0)!;
  return Array.from({ length: g.operatorsLength() }, (_, i) => {
    const op = g.operators(i)!;
    const code = m.operatorCodes(op.opcodeIndex())!;
    return { code: Math.max(code.builtinCode(), code.deprecatedBuiltinCode()), inputs: Array.from(op.inputsArray()!), outputs: Array.from(op.outputsArray()!) };
  });
}

function quantOf(m: Model, tensor: number): { scale: number; zeroPoint: bigint } {
  const q = m.subgraphs(0)!.tensors(tensor)!.quantization()!;
  return { scale: q.scale(0)!, zeroPoint: q.zeroPoint(0)! };
}

describe('TFLite export of every architecture at small width, run in LiteRT.js', () => {
  it.each(ARCHITECTURE_CASES)(
    '$config.arch ($config.stem stem, compressFirstStage=$config.compressFirstStage): float32 in LiteRT.js matches the engine',
    async (c) => {
      const batch = batchOf(c.config, 4, 9);
      const net = perturbedNetwork(c.config, c.alpha, batch);
      for (const [lowered, reference] of [
        [await lowerForInference(net.small.graph, net.small.params), await engineLogits(net.graph, net.params, batch, net.plan)],
        [await lowerForInference(plainFull(net.graph), net.params), await engineLogits(net.graph, net.params, batch, null)],
      ] as const) {
        const got = await runExported(tfliteExporter, tfliteFile(toTflite(lowered, { precision: 'fp32', quant: null })), batch);
        const cmp = compareLogits(reference, got, batch.n);
        expect(cmp.top1Agreement).toBe(1);
        expect(cmp.maxAbsLogitDiff).toBeLessThanOrEqual(1e-5 * Math.max(10, maxAbs(reference)));
      }
      net.dispose();
    },
  );

  it.each(ARCHITECTURE_CASES)(
    '$config.arch ($config.stem stem, compressFirstStage=$config.compressFirstStage): int8 in LiteRT.js agrees with int8 ONNX in onnxruntime, both near the engine',
    async (c) => {
      const batch = batchOf(c.config, 32, 5);
      const net = perturbedNetwork(c.config, c.alpha, batch);
      const lowered = await lowerForInference(net.small.graph, net.small.params);
      const quant = planQuantization(lowered, calibrate(lowered, batch).minmax, 'minmax');
      const tfl = await runExported(tfliteExporter, tfliteFile(toTflite(lowered, { precision: 'int8', quant })), batch);
      const onnx = await runExported(
        onnxExporter,
        [{ name: 'model.onnx', data: onnxFromInference(lowered, { precision: 'int8', quant, activationType: 'uint8' }) }],
        batch,
      );
      const step = quant.activations[lowered.output]!.scale;
      // The same integers in two runtimes: they may round a requantization differently, so results drift a few
      // output steps apart, most in DenseNet's 120 layers.
      expect(compareLogits(onnx, tfl, batch.n).maxAbsLogitDiff).toBeLessThanOrEqual(32 * step);
      const reference = await engineLogits(net.graph, net.params, batch, net.plan);
      const cmp = compareLogits(reference, tfl, batch.n);
      expect(cmp.maxAbsLogitDiff).toBeLessThanOrEqual(0.35 * maxAbs(reference));
      expect(cmp.top1Agreement).toBeGreaterThanOrEqual(0.75);
      net.dispose();
    },
  );
});

const RESNET: ModelConfig = { arch: 'resnet18', stem: 'cifar', inputSize: 16, channels: 3, classes: 5, width: 0.125, compressFirstStage: false };
const DENSENET: ModelConfig = { ...RESNET, arch: 'densenet121', stem: 'imagenet', inputSize: 32 };

async function int8Model(config: ModelConfig, alpha: number): Promise<{ lowered: InferenceGraph; quant: QuantPlan; bytes: Uint8Array; dispose(): void }> {
  const batch = batchOf(config, 16, 3);
  const net = perturbedNetwork(config, alpha, batch);
  const lowered = await lowerForInference(net.small.graph, net.small.params);
  const quant = planQuantization(lowered, calibrate(lowered, batch).percentile, 'percentile');
  return { lowered, quant, bytes: toTflite(lowered, { precision: 'int8', quant }), dispose: () => net.dispose() };
}

describe('the TFLite file', () => {
  it('avoids the traps that make LiteRT refuse a model: buffer 0 has no data vector, activations point at it, no custom_options', async () => {
    const lowered = await (async () => {
      const batch = batchOf(RESNET, 2, 1);
      const net = perturbedNetwork(RESNET, 4, batch);
      const l = await lowerForInference(net.small.graph, net.small.params);
      net.dispose();
      return l;
    })();
    const m = read(toTflite(lowered, { precision: 'fp32', quant: null, metadata: { class_names: ['a', 'b', 'c', 'd', 'e'] } }));
    expect(m.version()).toBe(3);
    expect(m.buffers(0)!.dataArray()).toBeNull();
    const g = m.subgraphs(0)!;
    const constant = new Set<number>();
    for (const op of operators(m)) for (const t of op.inputs) if (m.buffers(g.tensors(t)!.buffer())!.dataLength() > 0) constant.add(t);
    for (let t = 0; t < g.tensorsLength(); t++) if (!constant.has(t)) expect(g.tensors(t)!.buffer()).toBe(0);
    for (let i = 0; i < g.operatorsLength(); i++) expect(g.operators(i)!.customOptionsArray()).toBeNull();
    // NHWC float32 input with a batch of 1; logits and probabilities out; signature serving_default.
    expect(Array.from(g.tensors(g.inputs(0)!)!.shapeArray()!)).toEqual([1, 16, 16, 3]);
    expect([g.tensors(g.outputs(0)!)!.name(), g.tensors(g.outputs(1)!)!.name()]).toEqual(['logits', 'probabilities']);
    expect(m.signatureDefs(0)!.signatureKey()).toBe('serving_default');
    // The class names and normalisation travel inside the model.
    const entry = m.metadata(0)!;
    expect(entry.name()).toBe('adjoin_metadata');
    const json = JSON.parse(Buffer.from(m.buffers(entry.buffer())!.dataArray()!).toString('utf8')) as { class_names: string[] };
    expect(json.class_names).toEqual(['a', 'b', 'c', 'd', 'e']);
  });

  it('pads explicitly only where TFLite’s SAME would pad differently from the network', async () => {
    expect(spatialPadding(15, 3, 2, 1, 8)).toBe('same');
    expect(spatialPadding(16, 3, 1, 1, 16)).toBe('same');
    // Stride 2 on an even size: SAME pads one cell after, the network one before.
    expect(spatialPadding(16, 3, 2, 1, 8)).toBe('explicit');
    expect(spatialPadding(32, 7, 2, 3, 16)).toBe('explicit');
    expect(spatialPadding(16, 1, 2, 0, 8)).toBe('valid');
    const { bytes, dispose } = await int8Model(RESNET, 4);
    const ops = operators(read(bytes));
    // ResNet-18 at 16×16 has three stride-2 3×3 convolutions on even sizes.
    expect(ops.filter((o) => o.code === BuiltinOperator.PAD)).toHaveLength(3);
    dispose();
  });

  it('int8 is full integer: QUANTIZE after the float input, int8 tensors and per-channel filters inside, DEQUANTIZE before the float outputs', async () => {
    const { bytes, quant, lowered, dispose } = await int8Model(RESNET, 4);
    const m = read(bytes);
    const g = m.subgraphs(0)!;
    const ops = operators(m);
    expect(ops[0]!.code).toBe(BuiltinOperator.QUANTIZE);
    expect(g.tensors(ops[0]!.inputs[0]!)!.type()).toBe(TensorType.FLOAT32);
    expect(ops.at(-2)!.code).toBe(BuiltinOperator.DEQUANTIZE);
    expect(ops.at(-1)!.code).toBe(BuiltinOperator.SOFTMAX);
    for (const op of ops.slice(1, -2)) {
      for (const t of op.outputs) expect(g.tensors(t)!.type()).toBe(TensorType.INT8);
    }
    const convs = ops.filter((o) => o.code === BuiltinOperator.CONV_2D);
    expect(convs).toHaveLength(lowered.ops.filter((o) => o.op === 'conv').length);
    for (const conv of convs) {
      const filter = g.tensors(conv.inputs[1]!)!;
      const bias = g.tensors(conv.inputs[2]!)!;
      const cout = filter.shape(0)!;
      expect(filter.type()).toBe(TensorType.INT8);
      expect(filter.quantization()!.scaleLength()).toBe(cout);
      expect(filter.quantization()!.quantizedDimension()).toBe(0);
      expect(bias.type()).toBe(TensorType.INT32);
      // Bias scale = input scale × filter scale, channel by channel.
      const sIn = g.tensors(conv.inputs[0]!)!.quantization()!.scale(0)!;
      // (within the relative 1e-6 TFLite's kernels check it to).
      for (let c = 0; c < cout; c++) {
        const product = sIn * filter.quantization()!.scale(c)!;
        expect(Math.abs(bias.quantization()!.scale(c)! - product)).toBeLessThanOrEqual(1e-6 * product);
      }
    }
    expect(quant.method).toBe('percentile');
    dispose();
  });

  it("DenseNet's concatenations, like every pool, read and write one shared scale and zero point", async () => {
    const { bytes, dispose } = await int8Model(DENSENET, 2);
    const m = read(bytes);
    const ops = operators(m);
    const shared = ops.filter((o) => [BuiltinOperator.CONCATENATION, BuiltinOperator.MAX_POOL_2D, BuiltinOperator.AVERAGE_POOL_2D].includes(o.code));
    expect(ops.filter((o) => o.code === BuiltinOperator.CONCATENATION)).toHaveLength(58);
    for (const op of shared) {
      const out = quantOf(m, op.outputs[0]!);
      for (const t of op.inputs) expect(quantOf(m, t)).toEqual(out);
    }
    dispose();
  });

  it('fp16 stores every weight in float16 (half the file), dequantized to float32 inside; LiteRT agrees with the engine on top-1', async () => {
    const batch = batchOf(RESNET, 16, 4);
    const net = perturbedNetwork(RESNET, 4, batch);
    const lowered = await lowerForInference(plainFull(net.graph), net.params);
    const f32 = toTflite(lowered, { precision: 'fp32', quant: null });
    const f16 = toTflite(lowered, { precision: 'fp16', quant: null });
    expect(f16.byteLength).toBeLessThan(0.55 * f32.byteLength);
    const m = read(f16);
    const g = m.subgraphs(0)!;
    const dequantize = operators(m).filter((o) => o.code === BuiltinOperator.DEQUANTIZE);
    expect(dequantize.length).toBeGreaterThan(0);
    for (const op of dequantize) expect(g.tensors(op.inputs[0]!)!.type()).toBe(TensorType.FLOAT16);
    const cmp = compareLogits(await engineLogits(net.graph, net.params, batch, null), await runExported(tfliteExporter, tfliteFile(f16), batch), batch.n);
    expect(cmp.top1Agreement).toBeGreaterThanOrEqual(0.99);
    expect(cmp.maxAbsLogitDiff).toBeLessThan(0.05);
    net.dispose();
  });
});

describe.runIf(hasArmNn)('a second, independent reader: Arm NN (Debian python3-pyarmnn, CpuRef backend)', () => {
  it.each(ARCHITECTURE_CASES)(
    '$config.arch ($config.stem stem, compressFirstStage=$config.compressFirstStage): reads the float32 and int8 files and agrees with LiteRT.js',
    async (c) => {
      const batch = batchOf(c.config, 16, 9);
      const net = perturbedNetwork(c.config, c.alpha, batch);
      const lowered = await lowerForInference(net.small.graph, net.small.params);
      const f32 = toTflite(lowered, { precision: 'fp32', quant: null });
      const lite32 = await runExported(tfliteExporter, tfliteFile(f32), batch);
      const arm32 = armNnLogits(f32, batch.x);
      expect(compareLogits(lite32, arm32, batch.n).maxAbsLogitDiff).toBeLessThanOrEqual(1e-5 * Math.max(10, maxAbs(lite32)));

      const quant = planQuantization(lowered, calibrate(lowered, batch).minmax, 'minmax');
      const i8 = toTflite(lowered, { precision: 'int8', quant });
      const lite8 = await runExported(tfliteExporter, tfliteFile(i8), batch);
      const arm8 = armNnLogits(i8, batch.x);
      expect(arm8.every(Number.isFinite)).toBe(true);
      if (c.config.stem === 'cifar') {
        const step = quant.activations[lowered.output]!.scale;
        const cmp = compareLogits(lite8, arm8, batch.n);
        // Integer kernels may round a requantization differently; errors stay within a few output steps (DenseNet's 120 layers add up the most).
        // No top-1 rate is asked on top: the bound already fixes the top-1 wherever the two best logits are further apart than twice
        // it, and elsewhere — near ties, which a random network has many of — a rate over 16 images measures the network, not the reader.
        expect(cmp.maxAbsLogitDiff).toBeLessThanOrEqual(32 * step);
      }
      // Not compared for the ImageNet stem: Arm NN 20.08 pads int8 tensors with the integer 0 instead of the
      // zero point, so the padded max-pooling after the stem differs there (LiteRT and onnxruntime agree with
      // each other and with the engine on it, above). The file still parses and runs.
      net.dispose();
    },
  );
});

describe('a TFLite file LiteRT cannot load', () => {
  it('fails with LiteRT’s reason, not a bare exception', async () => {
    const lowered = await (async () => {
      const batch = batchOf(RESNET, 2, 1);
      const net = perturbedNetwork(RESNET, 4, batch);
      const l = await lowerForInference(net.small.graph, net.small.params);
      net.dispose();
      return l;
    })();
    const bytes = toTflite(lowered, { precision: 'fp32', quant: null });
    // Cut the file short: the flatbuffer's offsets now point past its end.
    const broken = bytes.slice(0, Math.floor(bytes.length / 3));
    await expect(runExported(tfliteExporter, tfliteFile(broken), batchOf(RESNET, 1, 1))).rejects.toThrow(/^LiteRT\.js refused the TFLite model: /);
  });
});
