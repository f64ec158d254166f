import Database from 'better-sqlite3';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { InputError } from '../../shared/errors.js';
import type { Db } from './db.js';
import { thisProcess, recoverInterrupted, type LivenessProbe } from './liveness.js';
import { MIGRATIONS, migrate, userVersion, type Migration } from './migrations.js';
import { Store } from './store.js';

/** How long a write waits for another connection's lock before failing with SQLITE_BUSY. */
export const BUSY_TIMEOUT_MS = 5_000;

export interface OpenOptions {
  /** Refuse to create the database (commands that only read or change existing runs). */
  mustExist?: boolean;
  busyTimeoutMs?: number;
  /** Test hooks. */
  migrations?: readonly Migration[];
  liveness?: LivenessProbe;
}

/**
 * The pragmas every connection sets (RELIABILITY.md row 10):
 * - WAL: readers (the UI, `adjoin runs`) never block the writer and vice versa.
 * - synchronous=FULL: better-sqlite3 builds with WAL defaulting to NORMAL,
 *   where a commit survives a crash of the app but may roll back on power
 *   loss. The history is what the user trusts, and we commit at most a few
 *   times a second (epochs, sampled steps, heartbeats), so every commit is
 *   fsynced.
 * - foreign_keys=ON: deleting a run takes its metrics and models with it.
 * - busy_timeout: concurrent writers (app and CLI) wait instead of failing.
 */
function configure(db: Db, busyTimeoutMs: number): void {
  db.pragma(`busy_timeout = ${busyTimeoutMs}`);
  const mode = db.pragma('journal_mode = WAL', { simple: true });
  if (mode !== 'wal') throw new Error(`${db.name}: SQLite refused WAL mode (journal_mode is ${String(mode)})`);
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
}

function sqliteCode(e: unknown): string | undefined {
  const code = (e as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * Opens (or creates) the history database: sets the pragmas, migrates the
 * schema, and marks runs whose process died as interrupted. A database
 * written by a newer Adjoin is refused before anything in it is touched.
 */
export function openStore(file: string, options: OpenOptions = {}): Store {
  if (options.mustExist === true && !existsSync(file)) {
    throw new InputError(`there is no Adjoin database at ${file} (train a model first, or pass --db)`, 'db');
  }
  try {
    mkdirSync(dirname(file), { recursive: true });
  } catch (e) {
    throw new InputError(`cannot create the folder of the database ${file}: ${(e as Error).message}`, 'db');
  }
  const migrations = options.migrations ?? MIGRATIONS;
  const latest = migrations.length;
  let db: Db;
  try {
    db = new Database(file, { timeout: options.busyTimeoutMs ?? BUSY_TIMEOUT_MS });
  } catch (e) {
    throw new InputError(`cannot open the database ${file}: ${(e as Error).message}`, 'db');
  }
  try {
    let version: number;
    try {
      version = userVersion(db);
    } catch (e) {
      if (sqliteCode(e) === 'SQLITE_NOTADB') throw new InputError(`${file} is not an SQLite database`, 'db');
      throw e;
    }
    if (version > latest) {
      throw new InputError(
        `${file} was written by a newer Adjoin (schema version ${version}; this one knows up to ${latest}); it was left untouched`,
        'db',
      );
    }
    if (version === 0) {
      const tables = db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'").get() as { n: number };
      if (tables.n > 0) throw new InputError(`${file} is an SQLite database of another program, not Adjoin's; it was left untouched`, 'db');
    }
    configure(db, options.busyTimeoutMs ?? BUSY_TIMEOUT_MS);
    migrate(db, migrations);
    // Only a schema that has the liveness columns can be recovered.
    if (userVersion(db) >= 3) recoverInterrupted(db, file, options.liveness ?? thisProcess());
    const store = new Store(db, file);
    if (userVersion(db) >= 5) store.sweeps.recoverInterrupted(options.liveness ?? thisProcess());
    return store;
  } catch (e) {
    db.close();
    throw e;
  }
}
