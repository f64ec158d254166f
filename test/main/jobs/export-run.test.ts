import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import onnxProto, { type onnx } from 'onnx-proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadNetwork } from '../../../main/engine/bundle.js';
import { planSmall } from '../../../shared/model/plan.js';
import { decodeOnnx } from '../../../main/export/onnx-builder.js';
import { loadTfjsFiles } from '../../../main/export/tfjs-model.js';
import { nodeFs, type ExportFs } from '../../../main/export/files.js';
import { ForeignFilesError } from '../../../main/export/ownership.js';
import { ExportRefusedError, engineLogits } from '../../../main/export/verify.js';
import { datasetCacheDir } from '../../../main/app-paths.js';
import { runDetails } from '../../../main/jobs/host/run-details.js';
import { openRunData, verificationBatch } from '../../../main/jobs/worker/validation-batch.js';
import { exportIn, type ExportTestRequest } from '../../helpers/exports.js';
import { CorruptBlobError, sha256 } from '../../../main/store/models.js';
import { openStore } from '../../../main/store/open.js';
import type { Store } from '../../../main/store/store.js';
import { InputError } from '../../../shared/errors.js';
import type { ExportMetadata } from '../../../shared/export.js';
import { isRoot, tryMountTmpfs, unmount } from '../../helpers/mount.js';
import { tempDirs, tinyConfig, trainedRun } from '../../helpers/store.js';
import { maxAbsDiff, useWasmBackend } from '../../helpers/tf.js';

useWasmBackend();
const temp = tempDirs('adjoin-export-');
let store: Store;
let runId: number;
let standardRunId: number;
const fast = { latency: { warmup: 1, runs: 3 } };

beforeAll(async () => {
  const dir = temp();
  store = openStore(join(dir, 'adjoin.db'));
  runId = await trainedRun(store, join(dir, 'runs'));
  standardRunId = await trainedRun(store, join(dir, 'runs'), tinyConfig({ mode: 'standard', alpha: null, epochs: 1 }));
});
afterAll(() => store.close());

const modelCount = (): number => (store.db.prepare('SELECT count(*) AS n FROM models').get() as { n: number }).n;

const request = (o: Partial<ExportTestRequest> = {}): ExportTestRequest => ({
  runId,
  format: 'onnx',
  precision: 'fp32',
  full: false,
  outDir: join(temp(), 'export'),
  ...fast,
  ...o,
});

describe('exporting a run', () => {
  it('ONNX: the small network, checked in onnxruntime-node, timed next to the full one, written and stored', async () => {
    const req = request();
    const [m] = await exportIn(store, req);
    const run = store.runs.require(runId);
    expect(readdirSync(req.outDir).sort()).toEqual(['labels.txt', 'metadata.json', 'model.onnx']);
    expect(m).toMatchObject({
      network: 'small',
      format: 'onnx',
      precision: 'fp32',
      dir: req.outDir,
      params: run.cost!.small!.params,
      macs: run.cost!.small!.macs,
    });
    // The whole validation split (24 images) and 16 seeded inputs; accuracy measured in the runtime.
    expect(m!.verification).toMatchObject({
      passed: true,
      top1Agreement: 1,
      validationSamples: 24,
      samples: 40,
      required: { top1Agreement: 1, maxAbsLogitDiff: 1e-3, maxAccuracyDrop: null },
      note: null,
      accuracyDrop: 0,
    });
    expect(m!.verification.accuracy).toBeCloseTo(run.val.small!.accuracy, 9);
    expect(m!.verification.maxAbsLogitDiff).toBeLessThanOrEqual(1e-3);
    expect(m!.latencyMs!).toBeGreaterThan(0);
    expect(m!.fullLatencyMs!).toBeGreaterThan(0);
    expect(m!.macRatio).toBeCloseTo(run.cost!.full.macs / run.cost!.small!.macs, 9);
    expect(m!.latencySpeedup).toBeCloseTo(m!.fullLatencyMs! / m!.latencyMs!, 9);

    const meta = JSON.parse(readFileSync(join(req.outDir, 'metadata.json'), 'utf8')) as ExportMetadata;
    expect(meta).toMatchObject({
      formatVersion: 1,
      modelFormat: 'onnx',
      network: 'small',
      input: { name: 'input', layout: 'NCHW', shape: [null, 1, 12, 12], dtype: 'float32' },
      channelOrder: 'L',
      mean: run.data!.mean,
      std: run.data!.std,
      normalizationFolded: false,
      classNames: run.data!.classes,
      params: run.cost!.small!.params,
      macs: run.cost!.small!.macs,
      validationAccuracy: run.val.small!.accuracy,
      sourceRunId: runId,
      onnxOpset: 13,
      tfliteSchemaVersion: null,
      quantization: null,
      precision: 'fp32',
      files: ['model.onnx', 'labels.txt', 'metadata.json'],
    });
    expect(readFileSync(join(req.outDir, 'labels.txt'), 'utf8')).toBe(`${run.data!.classes.join('\n')}\n`);

    // The stored files are the written ones.
    const [stored] = store.models.list(runId).filter((x) => x.id === m!.id);
    for (const f of stored!.files) expect(f.sha256).toBe(sha256(readFileSync(join(req.outDir, f.name))));
    expect(stored).toMatchObject({
      latencyMs: m!.latencyMs,
      fullLatencyMs: m!.fullLatencyMs,
      fullMacs: run.cost!.full.macs,
      accuracy: run.val.small!.accuracy,
    });

    // And the file on disk computes the engine's small path.
    const trained = loadNetwork(run.outputs!.network);
    const batch = verificationBatch(run, await openRunData(run, store.datasets.get(run.datasetId!), datasetCacheDir()));
    const reference = await engineLogits(trained.graph, trained.params, batch, planSmall(trained.graph, 2));
    trained.params.dispose();
    const session = await ort.InferenceSession.create(readFileSync(join(req.outDir, 'model.onnx')));
    // NHWC → NCHW with one channel is the identity.
    const x = batch.inputs(0, batch.n);
    const out = await session.run({ input: new ort.Tensor('float32', x, [batch.n, 1, 12, 12]) });
    expect(maxAbsDiff(out['logits']!.data as Float32Array, reference)).toBeLessThanOrEqual(1e-4);
    const probs = out['probabilities']!.data as Float32Array;
    expect(probs[0]! + probs[1]! + probs[2]!).toBeCloseTo(1, 5);
    await session.release();
  });

  it('TF.js with float16 weights and the full network beside it', async () => {
    const req = request({ format: 'tfjs', precision: 'fp16', full: true });
    const models = await exportIn(store, req);
    expect(models.map((m) => m.network)).toEqual(['small', 'full']);
    expect(readdirSync(req.outDir).sort()).toEqual(['full', 'labels.txt', 'metadata.json', 'model.json', 'weights.bin']);
    expect(readdirSync(join(req.outDir, 'full')).sort()).toEqual(['labels.txt', 'metadata.json', 'model.json', 'weights.bin']);
    for (const m of models) {
      expect(m.verification.required).toEqual({ top1Agreement: 0.99, maxAbsLogitDiff: null, maxAccuracyDrop: null });
      expect(m.verification.top1Agreement).toBeGreaterThanOrEqual(0.99);
      // Timed in the engine's TF.js, next to float32.
      expect(m.latencyMs).toBeGreaterThan(0);
      expect(m.fp32LatencyMs).toBeGreaterThan(0);
    }
    const manifest = JSON.parse(readFileSync(join(req.outDir, 'model.json'), 'utf8')) as {
      weightsManifest: Array<{ weights: Array<{ quantization?: { dtype: string } }> }>;
    };
    expect(manifest.weightsManifest[0]!.weights.every((w) => w.quantization?.dtype === 'float16')).toBe(true);
    const meta = JSON.parse(readFileSync(join(req.outDir, 'metadata.json'), 'utf8')) as ExportMetadata;
    expect(meta.input).toEqual({ name: 'input', layout: 'NHWC', shape: [null, 12, 12, 1], dtype: 'float32' });
    const files = ['model.json', 'weights.bin'].map((name) => ({ name, data: new Uint8Array(readFileSync(join(req.outDir, name))) }));
    const model = await loadTfjsFiles(files);
    expect(model.outputs[0]!.shape).toEqual([null, 3]);
    model.dispose();
    const full = store.models.list(runId).find((x) => x.id === models[1]!.id)!;
    expect(full).toMatchObject({ network: 'full', precision: 'fp16', outDir: join(req.outDir, 'full'), fullMacs: null });
  });

  it('a standard run exports its one network', async () => {
    const [m] = await exportIn(store, request({ runId: standardRunId }));
    expect(m).toMatchObject({ network: 'full', macRatio: null, latencySpeedup: null });
    expect(m!.verification.reference).toMatch(/full network/);
  });

  it('refuses a model that disagrees with the engine, with the figures, writing and storing nothing', async () => {
    const before = modelCount();
    const req = request({
      // A broken exporter: the classifier bias of the ONNX model is off by 0.01.
      tamper: (_network, files) =>
        files.map((f) => {
          if (f.name !== 'model.onnx') return f;
          const model = decodeOnnx(f.data);
          const bias = (model.graph as onnx.GraphProto).initializer.find((t) => t.name === 'fc.bias')!;
          const values = new Float32Array(new Uint8Array(bias.rawData!).buffer);
          values[0]! += 0.01;
          bias.rawData = new Uint8Array(values.buffer);
          return { name: f.name, data: onnxProto.onnx.ModelProto.encode(model).finish() };
        }),
    });
    const e = await exportIn(store, req).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ExportRefusedError);
    expect((e as Error).message).toMatch(
      /export refused: the ONNX fp32 small network disagrees with the engine's small path on 40 inputs .*max abs logit difference 1\.00e-2 \(allowed 1e-3\)/,
    );
    expect((e as ExportRefusedError).report!.passed).toBe(false);
    expect(existsSync(req.outDir)).toBe(false);
    expect(modelCount()).toBe(before);
  });

  it('a read-only target folder: a clear error naming it, nothing stored', async () => {
    const before = modelCount();
    const dir = temp();
    let target: string;
    let mounted = false;
    if (!isRoot()) {
      chmodSync(dir, 0o555);
      target = join(dir, 'export');
    } else if ((mounted = tryMountTmpfs(dir, 'ro'))) {
      target = join(dir, 'export');
    } else {
      // Root without mount rights: chmod does not stop root, so use a path no one can create.
      writeFileSync(join(dir, 'a-file'), '');
      target = join(dir, 'a-file', 'export');
    }
    try {
      const e = await exportIn(store, request({ outDir: target })).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(InputError);
      expect((e as Error).message).toMatch(
        new RegExp(
          `cannot write the export to ${target.replace(/[/\\]/g, '.')}: (it is on a read-only file system|permission denied|part of the path is a file)`,
        ),
      );
      expect(modelCount()).toBe(before);
    } finally {
      if (mounted) unmount(dir);
      chmodSync(dir, 0o755);
    }
  });

  it('a full disk (simulated at the file layer): a clear error, no stray files, nothing stored', async () => {
    const before = modelCount();
    const target = join(temp(), 'export');
    // A previous export in the same folder survives a failed one.
    mkdirSync(target);
    writeFileSync(join(target, 'model.onnx'), 'the previous model');
    let written = 0;
    const fullDisk: ExportFs = {
      ...nodeFs,
      write(path, data) {
        written += data.byteLength;
        if (written > 2000) throw Object.assign(new Error(`ENOSPC: no space left on device, write '${path}'`), { code: 'ENOSPC' });
        nodeFs.write(path, data);
      },
    };
    // The user agreed to replace it (it has no Adjoin metadata.json beside it).
    const e = await exportIn(store, request({ outDir: target, fs: fullDisk, overwrite: true })).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(InputError);
    expect((e as Error).message).toBe(`cannot write the export to ${target}: the disk is full (ENOSPC)`);
    expect(readdirSync(target)).toEqual(['model.onnx']);
    expect(readFileSync(join(target, 'model.onnx'), 'utf8')).toBe('the previous model');
    expect(modelCount()).toBe(before);
  });

  it('a really full disk (a 16 kB tmpfs, where mounting is allowed)', async (ctx) => {
    const dir = temp();
    if (!tryMountTmpfs(dir, 'size=16k')) ctx.skip();
    const before = modelCount();
    try {
      const e = await exportIn(store, request({ outDir: join(dir, 'export') })).catch((x: unknown) => x);
      expect((e as Error).message).toMatch(/the disk is full \(ENOSPC\)/);
      expect(readdirSync(join(dir, 'export'))).toEqual([]);
      expect(modelCount()).toBe(before);
    } finally {
      unmount(dir);
    }
  });

  it('refuses a folder holding files of the same names it did not write, before building anything; --overwrite replaces them', async () => {
    const dir = join(temp(), 'mine');
    mkdirSync(dir);
    // The user's own files: a model and a metadata.json of another program.
    writeFileSync(join(dir, 'model.onnx'), 'my own model');
    writeFileSync(join(dir, 'metadata.json'), JSON.stringify({ author: 'me', files: ['model.onnx'] }));
    writeFileSync(join(dir, 'notes.txt'), 'kept');
    const before = modelCount();
    const refused = await exportIn(store, request({ outDir: dir })).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ForeignFilesError);
    expect(refused).toMatchObject({ field: 'overwrite', files: ['model.onnx', 'metadata.json'] });
    expect((refused as Error).message).toMatch(/already holds model\.onnx, metadata\.json, which Adjoin did not write; .*--overwrite/);
    expect(readFileSync(join(dir, 'model.onnx'), 'utf8')).toBe('my own model');
    expect(readdirSync(dir).sort()).toEqual(['metadata.json', 'model.onnx', 'notes.txt']);
    expect(modelCount()).toBe(before);

    await exportIn(store, request({ outDir: dir, overwrite: true }));
    expect(readFileSync(join(dir, 'model.onnx')).subarray(0, 12).toString()).not.toBe('my own model');
    expect(readFileSync(join(dir, 'notes.txt'), 'utf8')).toBe('kept');
    // Its own export is Adjoin's to replace: exporting again into it needs no --overwrite (TF.js too, beside it).
    await exportIn(store, request({ outDir: dir }));
    expect(modelCount()).toBe(before + 2);
  });

  it('a labels.txt it did not write counts too; and the folder is stored resolved', async () => {
    const root = temp();
    mkdirSync(join(root, 'b'));
    writeFileSync(join(root, 'b', 'labels.txt'), 'cat\ndog\n');
    await expect(exportIn(store, request({ outDir: join(root, 'b') }))).rejects.toThrow(/already holds labels\.txt, which Adjoin did not write/);
    const [m] = await exportIn(store, request({ outDir: `${root}/a/../c/./d/..` }));
    expect(m!.dir).toBe(join(root, 'c'));
    expect(store.models.list(runId).at(-1)!.outDir).toBe(join(root, 'c'));
  });

  it('detects a corrupted stored ONNX file by its SHA-256', async () => {
    const [m] = await exportIn(store, request());
    store.db.prepare("UPDATE model_files SET data = CAST(? AS BLOB) WHERE model_id = ? AND name = 'model.onnx'").run(
      (() => {
        const b = Buffer.from(store.models.files(m!.id).find((f) => f.name === 'model.onnx')!.data);
        b[b.length >> 1]! ^= 0xff;
        return b;
      })(),
      m!.id,
    );
    expect(() => store.models.files(m!.id)).toThrow(CorruptBlobError);
    const details = runDetails(store, runId).models.find((x) => x.id === m!.id)!;
    expect(details).toMatchObject({ integrity: 'corrupted', corruptedFiles: ['model.onnx'] });
  });

  it('names what is wrong with the run: unknown, unfinished, its network gone', async () => {
    await expect(exportIn(store, request({ runId: 999 }))).rejects.toThrow(/there is no run 999/);
    const queued = store.runs.create({ config: tinyConfig(), datasetId: null, outDir: null, owner: null }, 1);
    await expect(exportIn(store, request({ runId: queued }))).rejects.toThrow(/run \d+ is queued; only finished runs can be exported/);
    const dir = temp();
    const ghost = await trainedRun(store, join(dir, 'runs'), tinyConfig({ epochs: 1 }));
    const network = store.runs.require(ghost).outputs!.network;
    writeFileSync(network, 'not a bundle');
    await expect(exportIn(store, request({ runId: ghost }))).rejects.toThrow(/the trained network of run \d+ cannot be read/);
  });
});
