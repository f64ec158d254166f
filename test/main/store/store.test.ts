import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CorruptBlobError, sha256 } from '../../../main/store/models.js';
import { openStore } from '../../../main/store/open.js';
import type { Store } from '../../../main/store/store.js';
import { DecodeError } from '../../../shared/decode.js';
import { InputError } from '../../../shared/errors.js';
import type { VerificationReport } from '../../../shared/export.js';
import { recipe } from '../../../shared/train-config.js';
import { tempDirs, tinyConfig } from '../../helpers/store.js';

const temp = tempDirs('adjoin-store-');
const owner = { pid: process.pid, host: 'here' };

function fresh(): Store {
  return openStore(join(temp(), 'adjoin.db'));
}

const verification: VerificationReport = {
  reference: "the engine's small path",
  runtime: 'onnxruntime-node',
  samples: 10,
  validationSamples: 6,
  top1Agreement: 1,
  maxAbsLogitDiff: 2e-6,
  accuracy: 0.9,
  referenceAccuracy: 0.9,
  accuracyDrop: 0,
  required: { top1Agreement: 1, maxAbsLogitDiff: 1e-3, maxAccuracyDrop: null },
  passed: true,
  note: null,
};

function addModel(store: Store, runId: number): number {
  return store.models.insert(
    {
      runId,
      network: 'small',
      format: 'onnx',
      precision: 'fp32',
      params: 100,
      macs: 1000,
      accuracy: 0.9,
      latencyMs: 0.5,
      fullLatencyMs: 1.5,
      fullMacs: 4000,
      fp32LatencyMs: null,
      verification,
      metadata: { formatVersion: 1 },
      outDir: '/out',
      files: [
        { name: 'model.onnx', data: Uint8Array.from([1, 2, 3, 4]) },
        { name: 'labels.txt', data: new Uint8Array(Buffer.from('a\nb\n')) },
      ],
    },
    1000,
  );
}

describe('the store', () => {
  it('keys datasets by content and split, following a moved folder', () => {
    const store = fresh();
    const d = { path: '/a', contentKey: 'k', name: 'fm', summary: { classes: ['x', 'y'] }, split: { limitVal: 10, limitTrain: null } };
    const id = store.datasets.upsert(d, 1);
    // Same content, same split (keys in another order): same row, new path.
    expect(store.datasets.upsert({ ...d, path: '/b', split: { limitTrain: null, limitVal: 10 } }, 2)).toBe(id);
    expect(store.datasets.get(id)).toMatchObject({ path: '/b', contentKey: 'k', summary: { classes: ['x', 'y'] }, createdAt: 1 });
    expect(store.datasets.upsert({ ...d, split: { limitVal: 20 } }, 3)).not.toBe(id);
    store.close();
  });

  it('creates runs with integer ids that are never reused, newest first, and names a missing one', () => {
    const store = fresh();
    const a = store.runs.create({ config: tinyConfig(), datasetId: null, outDir: null, owner }, 1);
    const b = store.runs.create({ config: tinyConfig({ seed: 7 }), datasetId: null, outDir: '/x', owner: null }, 2);
    expect(store.runs.list().map((r) => r.id)).toEqual([b, a]);
    expect(store.runs.get(a)).toMatchObject({ status: 'queued', seed: 1, owner: { pid: process.pid, host: 'here', heartbeatAt: 1 } });
    expect(store.runs.get(b)).toMatchObject({ seed: 7, outDir: '/x', owner: { pid: null } });
    store.runs.delete(b);
    const c = store.runs.create({ config: tinyConfig(), datasetId: null, outDir: null, owner: null }, 3);
    expect(c).toBeGreaterThan(b);
    expect(() => store.runs.require(99)).toThrow(InputError);
    expect(() => store.runs.require(99)).toThrow(/there is no run 99 in .*adjoin\.db/);
    store.close();
  });

  it('checks the config it reads back: malformed JSON, a wrong field, a config no run could have', () => {
    const store = fresh();
    const id = store.runs.create({ config: tinyConfig(), datasetId: null, outDir: null, owner: null }, 1);
    const setConfig = (text: string): void => void store.db.prepare('UPDATE runs SET config = ? WHERE id = ?').run(text, id);
    setConfig('{"model": ');
    expect(() => store.runs.get(id)).toThrow(/runs\[1\]\.config: expected valid JSON/);
    setConfig(JSON.stringify({ ...tinyConfig(), model: { ...tinyConfig().model, arch: 'vgg16' } }));
    expect(() => store.runs.get(id)).toThrow(DecodeError);
    expect(() => store.runs.get(id)).toThrow(/runs\[1\]\.config\.model\.arch: expected one of resnet18.*got "vgg16"/);
    setConfig(JSON.stringify(tinyConfig({ epochs: 0 })));
    expect(() => store.runs.get(id)).toThrow(/epochs must be an integer from 1/);
    store.close();
  });

  it('reads back the short recipe’s config (one cycle, Nesterov) as stored, and refuses a one-cycle schedule no run could have', () => {
    const store = fresh();
    const config = tinyConfig(recipe('short', 16));
    const id = store.runs.create({ config, datasetId: null, outDir: null, owner: null }, 1);
    expect(store.runs.require(id).config).toEqual(config);
    const setConfig = (c: unknown): void => void store.db.prepare('UPDATE runs SET config = ? WHERE id = ?').run(JSON.stringify(c), id);
    setConfig({ ...config, schedule: { ...config.schedule, momentum: { base: 0.85 } } });
    expect(() => store.runs.get(id)).toThrow(/runs\[1\]\.config\.schedule\.momentum\.max: expected/);
    setConfig({ ...config, schedule: { ...config.schedule, pctStart: 0 } });
    expect(() => store.runs.get(id)).toThrow(/lr schedule onecycle: pctStart must be above 0 and below 1, got 0/);
    store.close();
  });

  it('checks the backend report it reads back: a backend it does not know, a skipped entry without its reason', () => {
    const store = fresh();
    const id = store.runs.create({ config: tinyConfig(), datasetId: null, outDir: null, owner: null }, 1);
    expect(store.runs.require(id).backendInfo).toBeNull();
    const setInfo = (info: unknown): void => void store.db.prepare('UPDATE runs SET backend_info = ? WHERE id = ?').run(JSON.stringify(info), id);
    const good = {
      kind: 'webgpu',
      name: 'webgpu',
      label: 'GPU',
      device: 'Apple M2 — WebGPU via Dawn',
      skipped: [{ kind: 'gpu', reason: 'no CUDA build for darwin' }],
    };
    setInfo(good);
    expect(store.runs.require(id).backendInfo).toEqual(good);
    setInfo({ ...good, kind: 'tpu' });
    expect(() => store.runs.get(id)).toThrow(/runs\[1\]\.backend_info\.kind: expected one of gpu, webgpu, node, wasm, cpu/);
    setInfo({ ...good, skipped: [{ kind: 'gpu' }] });
    expect(() => store.runs.get(id)).toThrow(/runs\[1\]\.backend_info\.skipped\[0\]\.reason/);
    store.close();
  });

  it('refuses a status outside the six it knows, in the schema itself', () => {
    const store = fresh();
    const id = store.runs.create({ config: tinyConfig(), datasetId: null, outDir: null, owner: null }, 1);
    expect(() => store.db.prepare("UPDATE runs SET status = 'exploded' WHERE id = ?").run(id)).toThrow(/CHECK constraint failed/);
    store.close();
  });

  it('keeps DAN choices per epoch', () => {
    const store = fresh();
    const id = store.runs.create({ config: tinyConfig(), datasetId: null, outDir: null, owner: null }, 1);
    store.danChoices.put(id, 1, 15, [
      { group: 's2.out', alpha: 2, logits: [0.1, 0.3], probabilities: [0.4, 0.6] },
      { group: 's2.b1.conv1', alpha: 1, logits: [0.5, 0.2], probabilities: [0.55, 0.45] },
    ]);
    store.danChoices.put(id, 2, 14.3, [{ group: 's2.out', alpha: 4, logits: [0, 1], probabilities: [0.1, 0.9] }]);
    const list = store.danChoices.list(id);
    expect(list.map((e) => [e.epoch, e.tau, e.choices.map((c) => c.group)])).toEqual([
      [1, 15, ['s2.b1.conv1', 's2.out']],
      [2, 14.3, ['s2.out']],
    ]);
    expect(list[1]!.choices[0]).toEqual({ group: 's2.out', alpha: 4, logits: [0, 1], probabilities: [0.1, 0.9] });
    store.close();
  });

  it('stores exported files as BLOBs with size and SHA-256, and detects a corrupted one', () => {
    const store = fresh();
    const run = store.runs.create({ config: tinyConfig(), datasetId: null, outDir: null, owner: null }, 1);
    const id = addModel(store, run);
    const [m] = store.models.list(run);
    expect(m).toMatchObject({ id, network: 'small', format: 'onnx', byteSize: 8, latencyMs: 0.5, fullLatencyMs: 1.5, verification });
    expect(m!.files).toEqual([
      { name: 'labels.txt', byteSize: 4, sha256: sha256(new Uint8Array(Buffer.from('a\nb\n'))) },
      { name: 'model.onnx', byteSize: 4, sha256: sha256(Uint8Array.from([1, 2, 3, 4])) },
    ]);
    expect(Array.from(store.models.files(id).find((f) => f.name === 'model.onnx')!.data)).toEqual([1, 2, 3, 4]);

    // One flipped byte in the stored ONNX file.
    store.db.prepare("UPDATE model_files SET data = x'01020305' WHERE model_id = ? AND name = 'model.onnx'").run(id);
    expect(() => store.models.files(id)).toThrow(CorruptBlobError);
    expect(() => store.models.files(id)).toThrow(/stored model\.onnx of model \d+ is corrupted/);
    expect(store.models.check(id)).toEqual([
      { name: 'labels.txt', ok: true },
      { name: 'model.onnx', ok: false },
    ]);
    store.close();
  });

  it('deletes a run with everything hanging off it', () => {
    const store = fresh();
    const run = store.runs.create({ config: tinyConfig(), datasetId: null, outDir: null, owner: null }, 1);
    addModel(store, run);
    store.danChoices.put(run, 1, null, [{ group: 'g', alpha: 2, logits: [0], probabilities: [1] }]);
    store.metrics.putStep(run, {
      type: 'step',
      time: 1,
      epoch: 1,
      step: 1,
      stepsPerEpoch: 3,
      globalStep: 1,
      totalSteps: 3,
      progress: 0.3,
      loss: 1,
      ce: 1,
      kl: null,
      smallCe: null,
      lambda: 0,
      lr: 0.1,
      imagesPerSecond: 10,
      etaSeconds: 1,
    });
    store.runs.delete(run);
    for (const table of ['models', 'model_files', 'dan_choices', 'step_metrics', 'epoch_metrics', 'runs']) {
      expect((store.db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n).toBe(0);
    }
    store.close();
  });
});
