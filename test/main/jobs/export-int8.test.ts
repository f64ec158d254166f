import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as flatbuffers from 'flatbuffers';
import onnxProto, { type onnx } from 'onnx-proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeOnnx } from '../../../main/export/onnx-builder.js';
import { Model, TensorType } from '../../../main/export/tflite/generated/schema_generated.js';
import { ExportRefusedError } from '../../../main/export/verify.js';
import { runDetails } from '../../../main/jobs/host/run-details.js';
import { exportIn, type ExportTestRequest } from '../../helpers/exports.js';
import { openStore } from '../../../main/store/open.js';
import type { Store } from '../../../main/store/store.js';
import { type InputError } from '../../../shared/errors.js';
import type { ExportMetadata } from '../../../shared/export.js';
import { tempDirs, tinyConfig, trainedRun } from '../../helpers/store.js';
import { useWasmBackend } from '../../helpers/tf.js';

useWasmBackend();
const temp = tempDirs('adjoin-int8-');
/** Enough validation images that one image is a fraction of a point, and 192 training images to calibrate on. */
const DATA = 'synthetic:classes=3,size=12,channels=1,train=192,val=400,seed=2';
let store: Store;
let runId: number;

beforeAll(async () => {
  const dir = temp();
  store = openStore(join(dir, 'adjoin.db'));
  runId = await trainedRun(store, join(dir, 'runs'), tinyConfig({ epochs: 4 }), DATA);
});
afterAll(() => store.close());

const modelCount = (): number => (store.db.prepare('SELECT count(*) AS n FROM models').get() as { n: number }).n;
const request = (o: Partial<ExportTestRequest> = {}): ExportTestRequest => ({
  runId,
  format: 'onnx',
  precision: 'int8',
  full: false,
  outDir: join(temp(), 'export'),
  latency: { warmup: 1, runs: 3 },
  ...o,
});
const metadataOf = (dir: string): ExportMetadata => JSON.parse(readFileSync(join(dir, 'metadata.json'), 'utf8')) as ExportMetadata;

describe('int8 export of a trained tiny model', () => {
  it('ONNX: QDQ with int8 weights, within the drop limit on all 400 validation images, calibrated on its training images, timed against float32', async () => {
    const req = request();
    const [m] = await exportIn(store, req);
    const v = m!.verification;
    expect(v).toMatchObject({ passed: true, validationSamples: 400, samples: 400, required: { maxAccuracyDrop: 1, maxAbsLogitDiff: null } });
    expect(v.referenceAccuracy).toBeCloseTo(store.runs.require(runId).val.small!.accuracy, 9);
    expect(v.accuracyDrop!).toBeLessThanOrEqual(1);
    expect(m!.latencyMs!).toBeGreaterThan(0);
    expect(m!.fp32LatencyMs!).toBeGreaterThan(0);
    expect(m!.speedupOverFp32).toBeCloseTo(m!.fp32LatencyMs! / m!.latencyMs!, 9);

    const meta = metadataOf(req.outDir);
    expect(meta.precision).toBe('int8');
    const q = meta.quantization!;
    expect(q.calibration.images).toBe(192);
    expect(q.calibration.source).toMatch(/192 of the run's 192 training images/);
    expect(q.calibration.tried.map((t) => t.method)).toEqual(['minmax', 'percentile']);
    expect(q.calibration.method).toBe(q.calibration.tried.reduce((a, b) => ((b.accuracy ?? -1) > (a.accuracy ?? -1) ? b : a)).method);
    // onnxruntime's fastest x86 form: uint8 activations, int8 weights.
    expect(q).toMatchObject({ activationType: 'uint8', inputType: 'float32' });
    expect(q.activations.length).toBeGreaterThan(10);
    for (const a of q.activations) expect(a.zeroPoint).toBeGreaterThanOrEqual(0);

    const model = decodeOnnx(readFileSync(join(req.outDir, 'model.onnx')));
    const graph = model.graph as onnx.GraphProto;
    const ops = new Set(graph.node.map((n) => n.opType));
    expect(ops.has('QuantizeLinear') && ops.has('DequantizeLinear')).toBe(true);
    const weights = graph.initializer.filter((t) => t.name!.endsWith('.weight.q'));
    expect(weights.length).toBeGreaterThan(0);
    for (const w of weights) expect(w.dataType).toBe(onnxProto.onnx.TensorProto.DataType.INT8);
    // Float in, float out.
    expect(graph.input[0]!.type!.tensorType!.elemType).toBe(onnxProto.onnx.TensorProto.DataType.FLOAT);

    const stored = runDetails(store, runId).models.find((x) => x.id === m!.id)!;
    expect(stored).toMatchObject({ format: 'onnx', precision: 'int8', fp32LatencyMs: m!.fp32LatencyMs });
    expect(stored.speedupOverFp32).toBeCloseTo(m!.speedupOverFp32!, 9);
  });

  it('TFLite: full integer in LiteRT.js, within the drop limit, calibrated on --calibration 64 images', async () => {
    const req = request({ format: 'tflite', calibration: 64 });
    const [m] = await exportIn(store, req);
    expect(readdirSync(req.outDir).sort()).toEqual(['labels.txt', 'metadata.json', 'model.tflite']);
    expect(m!.verification.passed).toBe(true);
    expect(m!.verification.runtime).toMatch(/^LiteRT\.js/);
    expect(m!.verification.accuracyDrop!).toBeLessThanOrEqual(1);
    const meta = metadataOf(req.outDir);
    expect(meta.quantization!.calibration.images).toBe(64);
    expect(meta.quantization!.activationType).toBe('int8');
    expect(meta).toMatchObject({ tfliteSchemaVersion: 3, onnxOpset: null, input: { name: 'input', layout: 'NHWC', shape: [1, 12, 12, 1], dtype: 'float32' } });
    const tfl = Model.getRootAsModel(new flatbuffers.ByteBuffer(new Uint8Array(readFileSync(join(req.outDir, 'model.tflite')))));
    const g = tfl.subgraphs(0)!;
    expect(g.tensors(g.inputs(0)!)!.type()).toBe(TensorType.FLOAT32);
    expect(g.tensors(g.outputs(0)!)!.type()).toBe(TensorType.FLOAT32);
  });

  it('TFLite and ONNX with --uint8-input: the model takes uint8, its parameters in metadata.json', async () => {
    const req = request({ format: 'tflite', uint8Input: true });
    const [m] = await exportIn(store, req);
    expect(m!.verification.passed).toBe(true);
    const meta = metadataOf(req.outDir);
    expect(meta.input.dtype).toBe('uint8');
    expect(meta.input.quantization!.scale).toBeGreaterThan(0);
    expect(meta.quantization!.inputType).toBe('uint8');
    expect(meta.preprocessing).toMatch(/quantized to uint8/);
    const tfl = Model.getRootAsModel(new flatbuffers.ByteBuffer(new Uint8Array(readFileSync(join(req.outDir, 'model.tflite')))));
    const input = tfl.subgraphs(0)!.tensors(tfl.subgraphs(0)!.inputs(0)!)!;
    expect(input.type()).toBe(TensorType.UINT8);
    expect(input.quantization()!.scale(0)).toBeCloseTo(meta.input.quantization!.scale, 6);
    expect(Number(input.quantization()!.zeroPoint(0))).toBe(meta.input.quantization!.zeroPoint);

    const onnxReq = request({ format: 'onnx', uint8Input: true });
    const [o] = await exportIn(store, onnxReq);
    expect(o!.verification.passed).toBe(true);
    expect(metadataOf(onnxReq.outDir).input).toMatchObject({ dtype: 'uint8', quantization: meta.input.quantization });
    const graph = decodeOnnx(readFileSync(join(onnxReq.outDir, 'model.onnx'))).graph as onnx.GraphProto;
    expect(graph.input[0]!.type!.tensorType!.elemType).toBe(onnxProto.onnx.TensorProto.DataType.UINT8);
  });

  it('refuses an int8 model that loses too much accuracy, with the figures, writing and storing nothing', async () => {
    const before = modelCount();
    const req = request({
      // A broken quantizer: the classifier's int32 bias pushes every image towards class 0.
      tamper: (_network, files) =>
        files.map((f) => {
          if (f.name !== 'model.onnx') return f;
          const model = decodeOnnx(f.data);
          const bias = (model.graph as onnx.GraphProto).initializer.find((t) => t.name === 'fc.bias.q')!;
          const values = new Int32Array(new Uint8Array(bias.rawData!).slice().buffer);
          values[0] = 2 ** 30;
          bias.rawData = new Uint8Array(values.buffer);
          return { name: f.name, data: onnxProto.onnx.ModelProto.encode(model).finish() };
        }),
    });
    const e = await exportIn(store, req).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ExportRefusedError);
    expect((e as Error).message).toMatch(
      /^export refused: the ONNX int8 small network reaches \d+\.\d\d% top-1 on 400 validation images in onnxruntime-node .*, \d+\.\d\d points below float32's \d+\.\d\d% \(at most 1\.00 allowed, --max-drop\)/,
    );
    expect((e as ExportRefusedError).report!.accuracyDrop!).toBeGreaterThan(1);
    expect(existsSync(req.outDir)).toBe(false);
    expect(modelCount()).toBe(before);
  });

  it('refuses int8 when there is nothing to calibrate on (the run’s images are gone), saying why; float32 still exports on seeded inputs', async () => {
    const dir = temp();
    const gone = await trainedRun(store, join(dir, 'runs'), tinyConfig({ epochs: 1 }), DATA);
    const info = store.runs.require(gone).data!;
    store.db.prepare('UPDATE runs SET data_info = ? WHERE id = ?').run(JSON.stringify({ ...info, source: join(dir, 'moved-away') }), gone);
    const before = modelCount();
    const req = request({ runId: gone, format: 'tflite' });
    const e = await exportIn(store, req).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ExportRefusedError);
    expect((e as Error).message).toMatch(
      /^export refused: the TFLite int8 small network needs the run's training images to calibrate its activation ranges, and there are none: the run's dataset .*moved-away cannot be read/,
    );
    expect(existsSync(req.outDir)).toBe(false);
    expect(modelCount()).toBe(before);
    const [m] = await exportIn(store, request({ runId: gone, format: 'tflite', precision: 'fp32' }));
    expect(m!.verification).toMatchObject({ passed: true, validationSamples: 0, samples: 16, accuracy: null });
    expect(m!.verification.note).toMatch(/cannot be read.*checked on seeded inputs only/);
  });

  it('names the setting at fault: TF.js has no int8, a calibration set of 0, a negative drop, uint8 input on a float model', async () => {
    const bad = async (o: Partial<ExportTestRequest>): Promise<InputError> => (await exportIn(store, request(o)).catch((x: unknown) => x)) as InputError;
    expect(await bad({ format: 'tfjs' })).toMatchObject({ field: 'precision', message: 'TF.js exports are fp32 or fp16, not int8' });
    expect(await bad({ calibration: 0 })).toMatchObject({
      field: 'calibration',
      message: expect.stringMatching(/--calibration must be a whole number of training images, at least 1; got 0/),
    });
    expect(await bad({ maxDrop: -1 })).toMatchObject({ field: 'maxDrop' });
    expect(await bad({ precision: 'fp32', uint8Input: true })).toMatchObject({ field: 'uint8Input' });
  });
});
