import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll } from 'vitest';
import { parseSyntheticSpec, synthesize } from '../../main/engine/data/synthetic.js';
import { train } from '../../main/engine/train.js';
import { beginRun } from '../../main/jobs/host/begin-run.js';
import { describeDataset } from '../../main/jobs/worker/dataset-row.js';
import { openStore } from '../../main/store/open.js';
import type { Store } from '../../main/store/store.js';
import type { TrainConfig } from '../../shared/train-config.js';
import { tinyConfig } from './configs.js';

export { tinyConfig };

/** A fresh folder under the OS temp dir, removed after the file's tests. */
export function tempDirs(prefix: string): () => string {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
  return () => {
    const d = mkdtempSync(join(tmpdir(), prefix));
    dirs.push(d);
    return d;
  };
}

export const SYNTHETIC = 'synthetic:classes=3,size=12,channels=1,train=48,val=24,seed=2';

/** Trains and records a tiny run in this process on synthetic data (`source`, default SYNTHETIC); returns its id. */
export async function trainedRun(store: Store, runsDir: string, config: TrainConfig = tinyConfig(), source = SYNTHETIC): Promise<number> {
  const spec = parseSyntheticSpec(source);
  if (spec === null) throw new Error(`${source} is not a synthetic data source`);
  const data = synthesize(spec);
  const dataset = describeDataset(source, { ...data, source }, { limitTrain: null, limitVal: null });
  const run = beginRun(store, { config, dataset, outDir: null, runsDir, resume: false }, { stepSampleMs: 0 });
  try {
    const outcome = await train({ config, data: { ...data, source }, outDir: run.outDir, emit: run.recorder.emit, stepEventInterval: 0 });
    if (outcome.status !== 'finished') throw new Error(`the tiny run did not finish: ${JSON.stringify(outcome)}`);
  } finally {
    run.recorder.close();
  }
  return run.runId;
}

/** A history database with `runs` runs (queued, unless `status` says otherwise), checkpointed into the main file (no -wal left to hide damage). */
export function historyWithRuns(file: string, runs: number, status: 'queued' | 'cancelled' = 'queued'): void {
  const store = openStore(file);
  for (let i = 0; i < runs; i++) store.runs.create({ config: tinyConfig({ seed: i }), datasetId: null, outDir: null, owner: null }, 1000 + i);
  store.db.prepare('UPDATE runs SET status = ?').run(status);
  store.db.pragma('wal_checkpoint(TRUNCATE)');
  store.close();
}

/**
 * Overwrites the header of the root page of one index: the file is damaged
 * (every check finds it) while its tables, and so its runs, still read.
 * Where the middle page falls depends on the schema; an index's root does not.
 */
export function damageIndex(file: string, index: string): void {
  const db = new Database(file, { readonly: true });
  const row = db.prepare(`SELECT rootpage FROM sqlite_schema WHERE type = 'index' AND name = ?`).get(index) as { rootpage: number } | undefined;
  db.close();
  if (row === undefined) throw new Error(`${file} has no index ${index}`);
  const bytes = readFileSync(file);
  const pageSize = bytes.readUInt16BE(16);
  const at = (row.rootpage - 1) * pageSize;
  for (let i = 0; i < 12; i++) bytes[at + i] = bytes[at + i]! ^ 0xff;
  writeFileSync(file, bytes);
}

/** Overwrites the header of a page in the middle of the file: a b-tree page SQLite can no longer read. */
export function damageDatabaseFile(file: string): void {
  const bytes = readFileSync(file);
  const pageSize = bytes.readUInt16BE(16);
  const at = Math.floor(bytes.length / pageSize / 2) * pageSize;
  for (let i = 0; i < 12; i++) bytes[at + i] = bytes[at + i]! ^ 0xff;
  writeFileSync(file, bytes);
}
