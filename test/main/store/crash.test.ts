import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { openStore } from '../../../main/store/open.js';
import { ADJOIN_BIN } from '../../helpers/cli.js';
import { SYNTHETIC, tempDirs, tinyConfig } from '../../helpers/store.js';

const temp = tempDirs('adjoin-crash-');
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

describe('a run survives the death of the process writing it', () => {
  it('kill -9 mid-run: every committed epoch is there, the run is interrupted with its checkpoint, integrity ok', async () => {
    const dir = temp();
    const db = join(dir, 'adjoin.db');
    const child = spawn(
      process.execPath,
      [
        ADJOIN_BIN,
        'train',
        '--data',
        SYNTHETIC,
        '--arch',
        'resnet18',
        '--width',
        '0.125',
        '--alpha',
        '2',
        '--epochs',
        '200',
        '--batch',
        '16',
        '--json',
        '--db',
        db,
      ],
      { env: { ...process.env, ADJOIN_BACKEND: 'wasm', ADJOIN_HOME: dir }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    let seen = 0;
    for await (const line of createInterface({ input: child.stdout })) {
      const e = JSON.parse(line) as { type: string; epoch?: number };
      if (e.type === 'epoch') seen = e.epoch!;
      // Killed mid-epoch, some steps after its second epoch ended.
      if (e.type === 'step' && seen >= 2) {
        child.kill('SIGKILL');
        break;
      }
    }
    const [, signal] = (await once(child, 'exit')) as [number | null, string | null];
    expect(signal, stderr).toBe('SIGKILL');

    const store = openStore(db);
    const [run] = store.runs.list();
    expect(run!.status).toBe('interrupted');
    expect(run!.error).toMatch(new RegExp(`pid ${child.pid} .*is gone; resume it from .*checkpoint\\.ckpt`));
    expect(run!.checkpointPath).toBe(join(dir, 'runs', String(run!.id), 'checkpoint.ckpt'));
    const epochs = store.metrics.epochs(run!.id).map((e) => e.epoch);
    // An event is stored before it is printed: all we saw, maybe one more, and nothing missing.
    expect(epochs.length).toBeGreaterThanOrEqual(seen);
    expect(epochs).toEqual(Array.from({ length: epochs.length }, (_, i) => i + 1));
    expect(run!.epochsDone).toBe(epochs.length);
    expect(store.metrics.steps(run!.id).length).toBeGreaterThan(0);
    expect(store.integrityCheck()).toEqual(['ok']);
    store.close();
  });

  it('SIGKILL during an export insert never leaves a model with part of its files (docs/RELIABILITY.md row 11)', async () => {
    const dir = temp();
    const file = join(dir, 'adjoin.db');
    const setup = openStore(file);
    const runId = setup.runs.create({ config: tinyConfig(), datasetId: null, outDir: null, owner: null }, 1);
    setup.close();
    // The child inserts models, each with five 64 kB files in one transaction, as fast as it can.
    const script = join(dir, 'writer.mjs');
    writeFileSync(
      script,
      `const { openStore } = await import(process.argv[2]);
       const store = openStore(process.argv[3]);
       const files = Array.from({ length: 5 }, (_, i) => ({ name: 'f' + i, data: new Uint8Array(65536).fill(i) }));
       const v = { reference: 'r', runtime: 'r', samples: 1, validationSamples: 0, top1Agreement: 1, maxAbsLogitDiff: 0, required: { top1Agreement: 1, maxAbsLogitDiff: 0.001 }, passed: true, note: null };
       process.stdout.write('ready\\n');
       for (;;) store.models.insert({ runId: ${runId}, network: 'small', format: 'onnx', precision: 'fp32', params: 1, macs: 1, accuracy: null,
         latencyMs: null, fullLatencyMs: null, fullMacs: null, fp32LatencyMs: null, verification: v, metadata: {}, outDir: '/o', files }, Date.now());`,
    );
    const storeModule = new URL('build/main/store/open.js', `file://${ROOT}/`).href;
    let models = 0;
    for (let k = 0; k < 12; k++) {
      const child = spawn(process.execPath, [script, storeModule, file], { stdio: ['ignore', 'pipe', 'inherit'] });
      await once(child.stdout, 'data');
      await new Promise((r) => setTimeout(r, 5 + Math.random() * 60));
      child.kill('SIGKILL');
      await once(child, 'exit');
      const store = openStore(file);
      expect(store.integrityCheck()).toEqual(['ok']);
      const counts = store.db
        .prepare('SELECT m.id, count(f.name) AS n FROM models m LEFT JOIN model_files f ON f.model_id = m.id GROUP BY m.id')
        .all() as Array<{ n: number }>;
      expect(counts.every((c) => c.n === 5)).toBe(true);
      models = counts.length;
      store.close();
    }
    // The kills really landed while models were being written.
    expect(models).toBeGreaterThan(0);
  });

  it('a writer waits for a lock held briefly, and fails with SQLITE_BUSY past its timeout (docs/RELIABILITY.md row 13)', async () => {
    const file = join(temp(), 'adjoin.db');
    openStore(file).close();
    const hold = async (ms: number, write: () => void): Promise<void> => {
      const worker = new Worker(
        `const { createRequire } = require('node:module');
         const { workerData, parentPort } = require('node:worker_threads');
         const Database = createRequire(workerData.root + '/package.json')('better-sqlite3');
         const db = new Database(workerData.file);
         db.exec('BEGIN IMMEDIATE');
         parentPort.postMessage('locked');
         Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, workerData.ms);
         db.exec('COMMIT');
         db.close();`,
        { eval: true, workerData: { file, ms, root: ROOT } },
      );
      await once(worker, 'message');
      try {
        write();
      } finally {
        await once(worker, 'exit');
      }
    };
    const store = openStore(file, { busyTimeoutMs: 3000 });
    await hold(300, () => store.runs.create({ config: tinyConfig(), datasetId: null, outDir: null, owner: null }, 1));
    expect(store.runs.list()).toHaveLength(1);
    store.close();

    const impatient = openStore(file, { busyTimeoutMs: 100 });
    let code: unknown;
    await hold(1500, () => {
      try {
        impatient.runs.create({ config: tinyConfig(), datasetId: null, outDir: null, owner: null }, 2);
      } catch (e) {
        code = (e as { code?: unknown }).code;
      }
    });
    expect(code).toBe('SQLITE_BUSY');
    expect(impatient.runs.list()).toHaveLength(1);
    expect(impatient.integrityCheck()).toEqual(['ok']);
    impatient.close();
  });
});
