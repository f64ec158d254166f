import Database from 'better-sqlite3';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MIGRATIONS, SCHEMA_VERSION, migrate, userVersion, type Migration } from '../../../main/store/migrations.js';
import { openStore } from '../../../main/store/open.js';
import { InputError } from '../../../shared/errors.js';
import { tempDirs, tinyConfig } from '../../helpers/store.js';

const temp = tempDirs('adjoin-migrations-');

function tables(file: string): string[] {
  const db = new Database(file, { readonly: true });
  try {
    return (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").all() as Array<{ name: string }>).map(
      (r) => r.name,
    );
  } finally {
    db.close();
  }
}

/** A database left at schema version `k` by an older Adjoin, with the rows that version could hold. */
function databaseAt(k: number): string {
  const file = join(temp(), 'adjoin.db');
  const db = new Database(file);
  migrate(db, MIGRATIONS.slice(0, k));
  db.prepare(`INSERT INTO datasets (path, content_key, name, summary, split, created_at) VALUES ('synthetic', 'k1', 'synthetic', '{}', '{}', 1)`).run();
  const insertRun = db.prepare(
    `INSERT INTO runs (dataset_id, config, seed, status, out_dir, checkpoint_path, created_at, started_at) VALUES (1, ?, 1, ?, '/runs/x', ?, 1, 2)`,
  );
  insertRun.run(JSON.stringify(tinyConfig()), 'finished', null);
  // A run that was training when that older Adjoin died: it had no way to record its owner.
  insertRun.run(JSON.stringify(tinyConfig()), 'running', '/runs/x/checkpoint.ckpt');
  db.prepare(
    `INSERT INTO epoch_metrics (run_id, epoch, train_loss, train_accuracy_full, val_accuracy_full, val_loss_full, lambda, lr, seconds, time)
     VALUES (1, 1, 0.5, 0.8, 0.7, 0.6, 0.1, 0.05, 3, 4)`,
  ).run();
  if (k >= 2) {
    db.prepare(
      `INSERT INTO models (run_id, network, format, precision, params, macs, byte_size, verification, metadata, out_dir, created_at)
       VALUES (1, 'small', 'onnx', 'float32', 10, 20, 3, ?, '{}', '/out', 5)`,
    ).run(
      JSON.stringify({
        reference: 'engine',
        runtime: 'ort',
        samples: 8,
        validationSamples: 4,
        top1Agreement: 1,
        maxAbsLogitDiff: 1e-6,
        required: { top1Agreement: 1, maxAbsLogitDiff: 1e-3 },
        passed: true,
        note: null,
      }),
    );
    db.prepare(`INSERT INTO model_files (model_id, name, data, byte_size, sha256) VALUES (1, 'model.onnx', x'010203', 3, 'abc')`).run();
  }
  db.close();
  return file;
}

describe('migrations keyed by PRAGMA user_version', () => {
  it('bring an empty file to the latest schema with the pragmas set', () => {
    const file = join(temp(), 'sub', 'adjoin.db');
    const store = openStore(file);
    expect(userVersion(store.db)).toBe(SCHEMA_VERSION);
    expect(SCHEMA_VERSION).toBeGreaterThanOrEqual(2);
    expect(store.db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(store.db.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(store.db.pragma('synchronous', { simple: true })).toBe(2); // FULL
    expect(store.db.pragma('busy_timeout', { simple: true })).toBe(5000);
    store.close();
    expect(tables(file)).toEqual([
      'dan_choices',
      'datasets',
      'epoch_metrics',
      'model_files',
      'models',
      'queue_runs',
      'runs',
      'settings',
      'step_metrics',
      'sweep_cells',
      'sweeps',
    ]);
  });

  it.each(MIGRATIONS.slice(0, -1).map((m) => m.version))('upgrade a version-%i database, keeping its rows', (k) => {
    const file = databaseAt(k);
    const store = openStore(file);
    expect(userVersion(store.db)).toBe(SCHEMA_VERSION);
    const [legacy, finished] = store.runs.list();
    expect(finished!.status).toBe('finished');
    expect(finished!.config).toEqual(tinyConfig());
    expect(finished).toMatchObject({ kind: 'train', search: null });
    // Running under an Adjoin that did not track owners: nobody can still be running it.
    expect(legacy!.status).toBe('interrupted');
    expect(legacy!.checkpointPath).toBe('/runs/x/checkpoint.ckpt');
    expect(legacy!.error).toMatch(/resume it from \/runs\/x\/checkpoint\.ckpt/);
    expect(store.metrics.epochs(1)).toHaveLength(1);
    expect(store.datasets.get(1)!.contentKey).toBe('k1');
    expect(store.models.list(1)).toHaveLength(k >= 2 ? 1 : 0);
    expect(store.integrityCheck()).toEqual(['ok']);
    store.close();
  });

  it('v6: exports of older histories keep their files and figures, float32/float16 read as fp32/fp16, and any listed format and precision can be stored', () => {
    const file = databaseAt(5);
    const db = new Database(file);
    db.prepare(`UPDATE models SET precision = 'float16' WHERE id = 1`).run();
    // A deleted export: its id must not come back.
    db.prepare(
      `INSERT INTO models (id, run_id, network, format, precision, params, macs, byte_size, verification, metadata, out_dir, created_at)
       SELECT 7, run_id, network, format, precision, params, macs, byte_size, verification, metadata, out_dir, created_at FROM models WHERE id = 1`,
    ).run();
    db.prepare('DELETE FROM models WHERE id = 7').run();
    db.close();
    const store = openStore(file);
    const [old] = store.models.list(1);
    expect(old).toMatchObject({ id: 1, format: 'onnx', precision: 'fp16', fp32LatencyMs: null, files: [{ name: 'model.onnx', byteSize: 3 }] });
    expect(old!.verification).toMatchObject({ accuracy: null, referenceAccuracy: null, accuracyDrop: null, required: { maxAccuracyDrop: null } });
    expect(store.db.prepare('SELECT precision FROM models').pluck().all()).toEqual(['fp16']);
    const id = store.models.insert(
      {
        runId: 1,
        network: 'small',
        format: 'tflite',
        precision: 'int8',
        params: 1,
        macs: 1,
        accuracy: null,
        latencyMs: 1,
        fullLatencyMs: 2,
        fullMacs: 3,
        fp32LatencyMs: 1.5,
        verification: old!.verification,
        metadata: {},
        outDir: '/o',
        files: [{ name: 'model.tflite', data: Uint8Array.of(1) }],
      },
      9,
    );
    expect(id).toBe(8);
    expect(store.models.list(1).find((m) => m.id === id)).toMatchObject({ format: 'tflite', precision: 'int8', fp32LatencyMs: 1.5 });
    // What the code does not list is refused where models are written, as the CHECK used to.
    expect(() => store.models.insert({ ...store.models.list(1)[0]!, format: 'coreml' as 'onnx', files: [] }, 9)).toThrow(
      /model.format: expected one of onnx, tflite, tfjs/,
    );
    // Deleting the run still takes its models and their files with it.
    store.db.prepare('DELETE FROM runs WHERE id = 1').run();
    expect(store.db.prepare('SELECT count(*) FROM model_files').pluck().get()).toBe(0);
    expect(store.integrityCheck()).toEqual(['ok']);
    expect(store.db.pragma('foreign_key_check')).toEqual([]);
    store.close();
  });

  it('roll a failing migration back whole, and succeed when run again', () => {
    const file = databaseAt(1);
    const broken: Migration = {
      version: 2,
      description: 'fails half-way',
      up(db) {
        db.exec('CREATE TABLE half_done (x INTEGER)');
        throw new Error('disk on fire');
      },
    };
    expect(() => openStore(file, { migrations: [MIGRATIONS[0]!, broken, MIGRATIONS[2]!] })).toThrow(/disk on fire/);
    const db = new Database(file, { readonly: true });
    expect(userVersion(db)).toBe(1);
    db.close();
    expect(tables(file)).not.toContain('half_done');
    expect(tables(file)).not.toContain('models');
    const store = openStore(file);
    expect(userVersion(store.db)).toBe(SCHEMA_VERSION);
    store.close();
  });

  it('refuse a database from a newer Adjoin without touching it', () => {
    const file = join(temp(), 'future.db');
    const db = new Database(file);
    db.exec('CREATE TABLE runs (id INTEGER PRIMARY KEY, future_column TEXT)');
    db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
    const before = readFileSync(file);
    expect(() => openStore(file)).toThrow(InputError);
    expect(() => openStore(file)).toThrow(new RegExp(`newer Adjoin \\(schema version ${SCHEMA_VERSION + 1}`));
    expect(readFileSync(file).equals(before)).toBe(true);
    expect(existsSync(`${file}-wal`)).toBe(false);
  });

  it("refuse another program's SQLite file, a non-database, and a missing file where one must exist", () => {
    const other = join(temp(), 'other.db');
    const db = new Database(other);
    db.exec('CREATE TABLE photos (id INTEGER)');
    db.close();
    expect(() => openStore(other)).toThrow(/another program/);
    expect(tables(other)).toEqual(['photos']);

    const text = join(temp(), 'notes.db');
    writeFileSync(text, 'this is not a database, just some text that is long enough to have a header');
    expect(() => openStore(text)).toThrow(/not an SQLite database/);

    const missing = join(temp(), 'missing.db');
    expect(() => openStore(missing, { mustExist: true })).toThrow(/there is no Adjoin database at/);
    expect(existsSync(missing)).toBe(false);
  });
});
