import type { Db } from './db.js';

/**
 * One schema change. Released migrations never change: a database at version
 * k is brought to the latest by running k+1… in order (`PRAGMA user_version`
 * holds k).
 */
export interface Migration {
  version: number;
  description: string;
  up(db: Db): void;
}

const v1: Migration = {
  version: 1,
  description: 'datasets, runs, epoch and step metrics, DAN choices',
  up(db) {
    db.exec(`
      CREATE TABLE datasets (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        path TEXT NOT NULL,
        content_key TEXT NOT NULL,
        name TEXT NOT NULL,
        summary TEXT NOT NULL,
        split TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        UNIQUE (content_key, split)
      );
      CREATE TABLE runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        dataset_id INTEGER REFERENCES datasets(id) ON DELETE SET NULL,
        config TEXT NOT NULL,
        seed INTEGER NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'finished', 'failed', 'cancelled', 'interrupted')),
        failure_reason TEXT,
        error TEXT,
        backend TEXT,
        device TEXT,
        out_dir TEXT,
        checkpoint_path TEXT,
        data_info TEXT,
        full_params INTEGER,
        full_macs INTEGER,
        small_params INTEGER,
        small_macs INTEGER,
        total_steps INTEGER,
        epochs_done INTEGER NOT NULL DEFAULT 0,
        val_full_accuracy REAL,
        val_full_loss REAL,
        val_small_accuracy REAL,
        val_small_loss REAL,
        confusion TEXT,
        outputs TEXT,
        created_at INTEGER NOT NULL,
        started_at INTEGER,
        finished_at INTEGER,
        train_seconds REAL
      );
      CREATE INDEX runs_dataset ON runs (dataset_id);
      CREATE TABLE epoch_metrics (
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        epoch INTEGER NOT NULL,
        train_loss REAL NOT NULL,
        train_accuracy_full REAL NOT NULL,
        train_accuracy_small REAL,
        val_accuracy_full REAL NOT NULL,
        val_loss_full REAL NOT NULL,
        val_accuracy_small REAL,
        val_loss_small REAL,
        lambda REAL NOT NULL,
        lr REAL NOT NULL,
        seconds REAL NOT NULL,
        time INTEGER NOT NULL,
        PRIMARY KEY (run_id, epoch)
      ) WITHOUT ROWID;
      CREATE TABLE step_metrics (
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        global_step INTEGER NOT NULL,
        epoch INTEGER NOT NULL,
        step INTEGER NOT NULL,
        loss REAL NOT NULL,
        ce REAL NOT NULL,
        kl REAL,
        small_ce REAL,
        lambda REAL NOT NULL,
        lr REAL NOT NULL,
        images_per_second REAL NOT NULL,
        time INTEGER NOT NULL,
        PRIMARY KEY (run_id, global_step)
      ) WITHOUT ROWID;
      CREATE TABLE dan_choices (
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        epoch INTEGER NOT NULL,
        width_group TEXT NOT NULL,
        alpha INTEGER NOT NULL,
        logits TEXT NOT NULL,
        probabilities TEXT NOT NULL,
        tau REAL,
        PRIMARY KEY (run_id, epoch, width_group)
      ) WITHOUT ROWID;
    `);
  },
};

const v2: Migration = {
  version: 2,
  description: 'exported models, their files as BLOBs, verification and latency',
  up(db) {
    db.exec(`
      CREATE TABLE models (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        network TEXT NOT NULL CHECK (network IN ('small', 'full')),
        format TEXT NOT NULL CHECK (format IN ('onnx', 'tfjs')),
        precision TEXT NOT NULL CHECK (precision IN ('float32', 'float16')),
        params INTEGER NOT NULL,
        macs INTEGER NOT NULL,
        accuracy REAL,
        byte_size INTEGER NOT NULL,
        latency_ms REAL,
        full_latency_ms REAL,
        full_macs INTEGER,
        verification TEXT NOT NULL,
        metadata TEXT NOT NULL,
        out_dir TEXT NOT NULL,
        created_at INTEGER NOT NULL
      );
      CREATE INDEX models_run ON models (run_id);
      CREATE TABLE model_files (
        model_id INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        data BLOB NOT NULL,
        byte_size INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        PRIMARY KEY (model_id, name)
      ) WITHOUT ROWID;
    `);
  },
};

const v3: Migration = {
  version: 3,
  description: 'run liveness: owner process and heartbeat, to tell a dead run from a live one',
  up(db) {
    db.exec(`
      ALTER TABLE runs ADD COLUMN owner_pid INTEGER;
      ALTER TABLE runs ADD COLUMN owner_host TEXT;
      ALTER TABLE runs ADD COLUMN heartbeat_at INTEGER;
      CREATE INDEX runs_live ON runs (status) WHERE status IN ('queued', 'running');
    `);
  },
};

const v4: Migration = {
  version: 4,
  description: 'DAN search runs (kind, search config and result); epochs of runs without a full network',
  up(db) {
    // epoch_metrics is rebuilt to drop NOT NULL from the full network's columns:
    // small and kd runs train only a small network. Nothing references it.
    db.exec(`
      ALTER TABLE runs ADD COLUMN kind TEXT NOT NULL DEFAULT 'train' CHECK (kind IN ('train', 'search'));
      ALTER TABLE runs ADD COLUMN search TEXT;
      CREATE TABLE epoch_metrics_v4 (
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        epoch INTEGER NOT NULL,
        train_loss REAL NOT NULL,
        train_accuracy_full REAL,
        train_accuracy_small REAL,
        val_accuracy_full REAL,
        val_loss_full REAL,
        val_accuracy_small REAL,
        val_loss_small REAL,
        lambda REAL NOT NULL,
        lr REAL NOT NULL,
        seconds REAL NOT NULL,
        time INTEGER NOT NULL,
        PRIMARY KEY (run_id, epoch)
      ) WITHOUT ROWID;
      INSERT INTO epoch_metrics_v4 SELECT run_id, epoch, train_loss, train_accuracy_full, train_accuracy_small,
        val_accuracy_full, val_loss_full, val_accuracy_small, val_loss_small, lambda, lr, seconds, time FROM epoch_metrics;
      DROP TABLE epoch_metrics;
      ALTER TABLE epoch_metrics_v4 RENAME TO epoch_metrics;
    `);
  },
};

const v5: Migration = {
  version: 5,
  description: 'sweeps: a grid of runs over modes, α and seeds, each cell tied to its run',
  up(db) {
    db.exec(`
      CREATE TABLE sweeps (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        spec TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('running', 'finished', 'failed', 'cancelled', 'interrupted')),
        created_at INTEGER NOT NULL,
        finished_at INTEGER,
        owner_pid INTEGER,
        owner_host TEXT,
        heartbeat_at INTEGER
      );
      CREATE TABLE sweep_cells (
        sweep_id INTEGER NOT NULL REFERENCES sweeps(id) ON DELETE CASCADE,
        cell_key TEXT NOT NULL,
        run_id INTEGER REFERENCES runs(id) ON DELETE SET NULL,
        error TEXT,
        PRIMARY KEY (sweep_id, cell_key)
      ) WITHOUT ROWID;
      CREATE INDEX sweep_cells_run ON sweep_cells (run_id);
    `);
  },
};

const v6: Migration = {
  version: 6,
  description: 'runs: the backend as the engine reported it, with why each faster backend was not used',
  up(db) {
    db.exec(`ALTER TABLE runs ADD COLUMN backend_info TEXT`);
  },
};

const v7: Migration = {
  version: 7,
  description: 'queue: runs trained by remote workers (their job, how far their log was read, the worker), sweeps on a queue, settings',
  up(db) {
    db.exec(`
      ALTER TABLE runs ADD COLUMN worker_name TEXT;
      ALTER TABLE runs ADD COLUMN worker_host TEXT;
      ALTER TABLE sweeps ADD COLUMN queue_url TEXT;
      CREATE TABLE queue_runs (
        run_id INTEGER PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
        queue_url TEXT NOT NULL,
        job_id TEXT NOT NULL,
        generation INTEGER NOT NULL,
        release_job TEXT,
        lines_applied INTEGER NOT NULL DEFAULT 0,
        attempt INTEGER NOT NULL DEFAULT 0,
        worker_dir TEXT,
        submitted_at INTEGER,
        settled_at INTEGER
      ) WITHOUT ROWID;
      CREATE TABLE settings (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
      ) WITHOUT ROWID;
      `);
  },
};

const v8: Migration = {
  version: 8,
  description:
    'exports in any format and precision the code lists (TFLite, int8): the CHECKs on both go; float32/float16 become fp32/fp16; float32 latency beside each model',
  up(db) {
    // SQLite cannot drop a CHECK in place, so the table is rebuilt. model_files
    // is rebuilt with it: with foreign keys on (they cannot be turned off
    // inside the migration's transaction), dropping the old models table would
    // cascade into the files. Format and precision are validated where models
    // are written and read, from the lists in shared/export.ts.
    db.exec(`
      CREATE TABLE models_v8 (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        network TEXT NOT NULL CHECK (network IN ('small', 'full')),
        format TEXT NOT NULL,
        precision TEXT NOT NULL,
        params INTEGER NOT NULL,
        macs INTEGER NOT NULL,
        accuracy REAL,
        byte_size INTEGER NOT NULL,
        latency_ms REAL,
        full_latency_ms REAL,
        full_macs INTEGER,
        fp32_latency_ms REAL,
        verification TEXT NOT NULL,
        metadata TEXT NOT NULL,
        out_dir TEXT NOT NULL,
        created_at INTEGER NOT NULL
      );
      INSERT INTO models_v8 (id, run_id, network, format, precision, params, macs, accuracy, byte_size, latency_ms, full_latency_ms,
          full_macs, fp32_latency_ms, verification, metadata, out_dir, created_at)
        SELECT id, run_id, network, format,
          CASE precision WHEN 'float32' THEN 'fp32' WHEN 'float16' THEN 'fp16' ELSE precision END,
          params, macs, accuracy, byte_size, latency_ms, full_latency_ms, full_macs, NULL, verification, metadata, out_dir, created_at
        FROM models;
      CREATE TABLE model_files_v8 (
        model_id INTEGER NOT NULL REFERENCES models_v8(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        data BLOB NOT NULL,
        byte_size INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        PRIMARY KEY (model_id, name)
      ) WITHOUT ROWID;
      INSERT INTO model_files_v8 SELECT model_id, name, data, byte_size, sha256 FROM model_files;
      -- Model ids are never reused: the new table continues the old one's AUTOINCREMENT counter.
      DELETE FROM sqlite_sequence WHERE name = 'models_v8';
      INSERT INTO sqlite_sequence (name, seq) SELECT 'models_v8', seq FROM sqlite_sequence WHERE name = 'models';
      DROP TABLE model_files;
      DROP TABLE models;
      ALTER TABLE models_v8 RENAME TO models;
      ALTER TABLE model_files_v8 RENAME TO model_files;
      CREATE INDEX models_run ON models (run_id);
    `);
  },
};

export const MIGRATIONS: readonly Migration[] = [v1, v2, v3, v4, v5, v6, v7, v8];

/** The schema version this build reads and writes. */
export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

export function userVersion(db: Db): number {
  return db.pragma('user_version', { simple: true }) as number;
}

/**
 * Brings the database to the latest version. Each migration and its
 * `user_version` bump commit together (docs/RELIABILITY.md row 12): a failure in
 * step k leaves the database at k−1, and the next open retries from there.
 */
export function migrate(db: Db, migrations: readonly Migration[] = MIGRATIONS): { from: number; to: number } {
  const from = userVersion(db);
  for (const [i, m] of migrations.entries()) {
    if (m.version !== i + 1) throw new Error(`migration ${i + 1} is numbered ${m.version}: migrations must be 1, 2, 3…`);
  }
  for (const m of migrations) {
    if (m.version <= from) continue;
    // IMMEDIATE takes the write lock first, and the version is read again
    // under it: two processes opening an old database at once migrate it once.
    db.transaction(() => {
      if (userVersion(db) >= m.version) return;
      m.up(db);
      db.pragma(`user_version = ${m.version}`);
    }).immediate();
  }
  return { from, to: userVersion(db) };
}
