import Database from 'better-sqlite3';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { InputError } from '../../shared/errors.js';
import type { Db } from './db.js';
import { thisProcess, recoverInterrupted, type LivenessProbe } from './liveness.js';
import { MIGRATIONS, migrate, userVersion, type Migration } from './migrations.js';
import { backupFileOf } from './backup.js';
import { Store } from './store.js';

/** How long a write waits for another connection's lock before failing with SQLITE_BUSY. */
export const BUSY_TIMEOUT_MS = 5_000;

export interface OpenOptions {
  /** Refuse to create the database (commands that only read or change existing runs). */
  mustExist?: boolean;
  /**
   * Check the file for damage first (`PRAGMA quick_check`, docs/RELIABILITY.md
   * row 16): the app and the browser shell do at launch. A damaged database
   * is refused, or with 'read-only' opened read-only so the runs in it stay
   * visible and nothing is written over it.
   */
  check?: 'refuse' | 'read-only';
  busyTimeoutMs?: number;
  /** Test hooks. */
  migrations?: readonly Migration[];
  liveness?: LivenessProbe;
}

/**
 * The pragmas every connection sets (docs/RELIABILITY.md row 10):
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
    throw new InputError(`cannot open the database ${file}: ${openFailure(e)}`, 'db');
  }
  if (options.check !== undefined && existsSync(file)) {
    const damage = damageOf(db);
    if (damage !== null) {
      db.close();
      if (options.check === 'refuse') throw new DamagedDatabaseError(file, damage);
      return openReadOnly(file, damage, options);
    }
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
      throw new InputError(`${file} was written by a newer Adjoin (schema version ${version}; this one knows up to ${latest}); it was left untouched`, 'db');
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
    const code = sqliteCode(e) ?? '';
    if (!(e instanceof InputError) && (code.startsWith('SQLITE_READONLY') || code.startsWith('SQLITE_CANTOPEN') || code === 'SQLITE_FULL' || isBusy(code))) {
      throw new InputError(`cannot open the database ${file}: ${openFailure(e)}`, 'db');
    }
    throw e;
  }
}

/** What SQLite says is wrong with the file, or null if `quick_check` finds it sound (or it is not a database at all). */
function damageOf(db: Db): string[] | null {
  try {
    const rows = (db.pragma('quick_check') as Array<{ quick_check: string }>).map((r) => r.quick_check);
    return rows.length === 1 && rows[0] === 'ok' ? null : rows;
  } catch (e) {
    const code = sqliteCode(e);
    // Not a database: the usual checks below say so with a better message.
    if (code === 'SQLITE_NOTADB') return null;
    return [`${code ?? 'error'}: ${(e as Error).message}`];
  }
}

/** A damaged history, opened read-only: runs stay visible, nothing is written, the file is left as it is. */
function openReadOnly(file: string, damage: string[], options: OpenOptions): Store {
  const db = new Database(file, { readonly: true, timeout: options.busyTimeoutMs ?? BUSY_TIMEOUT_MS });
  return new Store(db, file, damage);
}

/** A reason a person can act on, for an open that failed. */
function openFailure(e: unknown): string {
  const code = sqliteCode(e) ?? '';
  const message = (e as Error).message;
  if (code.startsWith('SQLITE_READONLY') || code === 'EACCES' || code === 'EROFS') return `its folder or file is read-only (${message})`;
  if (code.startsWith('SQLITE_CANTOPEN')) return `the file or its folder cannot be written (${message})`;
  if (code === 'SQLITE_FULL') return `the disk is full (${message})`;
  if (isBusy(code)) return `another program holds its write lock and did not let go in time (${message}); try again when it is done`;
  return message;
}

function isBusy(code: string): boolean {
  return code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED');
}

/** The history is damaged: refused, with the way back. */
export class DamagedDatabaseError extends InputError {
  constructor(
    readonly file: string,
    readonly damage: string[],
  ) {
    super(
      `the history database ${file} is damaged (${damage.slice(0, 3).join('; ')}${damage.length > 3 ? '; …' : ''}); it was left untouched. ` +
        `adjoin db restore <backup> puts back a backup (Adjoin keeps one next to it, ${backupFileOf(file)}); the damaged file is kept`,
      'db',
    );
  }
}
