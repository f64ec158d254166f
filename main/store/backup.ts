import Database from 'better-sqlite3';
import { copyFileSync, existsSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { InputError } from '../../shared/errors.js';
import type { Store } from './store.js';

/**
 * Backups of the history (docs/RELIABILITY.md row 15). A live database is never
 * copied as files (its -wal holds commits the main file does not have yet):
 * SQLite's online backup API copies it page by page while writers go on,
 * into a temporary file that must pass `integrity_check` before it is
 * renamed into place.
 */

/** The backup Adjoin keeps next to a database: adjoin.db → adjoin.backup.db. */
export function backupFileOf(file: string): string {
  const name = basename(file).replace(/\.db$/, '');
  return join(dirname(file), `${name}.backup.db`);
}

/** What `integrity_check` says of a database file, opened read-only; ['ok'] when sound. */
export function checkFile(file: string): string[] {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return (db.pragma('integrity_check') as Array<{ integrity_check: string }>).map((r) => r.integrity_check);
  } catch (e) {
    // A page SQLite cannot even read makes the check itself fail: that is its finding.
    const code = (e as { code?: string }).code ?? '';
    if (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB') return [`${code}: ${(e as Error).message}`];
    throw e;
  } finally {
    db.close();
  }
}

/** The files SQLite keeps beside a database while it is open. */
const SIDE_FILES = ['-wal', '-shm', '-journal'];

function removeWithSideFiles(file: string): void {
  for (const suffix of ['', ...SIDE_FILES]) rmSync(file + suffix, { force: true });
}

/**
 * Turns a fresh backup copy into one plain file (rollback journal, so no
 * -wal or -shm is left beside it) and checks it; its problems, or ['ok'].
 */
function settleCopy(file: string): string[] {
  const db = new Database(file, { fileMustExist: true });
  try {
    db.pragma('journal_mode = DELETE');
    return (db.pragma('integrity_check') as Array<{ integrity_check: string }>).map((r) => r.integrity_check);
  } finally {
    db.close();
  }
}

/** Writes a checked backup of `store` to `dest` (replacing an older one only once the new one is sound). */
export async function backupStore(store: Store, dest: string): Promise<void> {
  const partial = `${dest}.partial`;
  removeWithSideFiles(partial);
  try {
    // SQLite restarts an online backup whenever another connection writes
    // between two of its steps, so with a run recording every few seconds a
    // page-by-page copy might never finish. After the first (empty) step the
    // whole database is copied in one step, under one read lock: at most one
    // restart, however busy the writers.
    await store.db.backup(partial, { progress: () => 0x7fffffff });
    const problems = settleCopy(partial);
    if (problems.length !== 1 || problems[0] !== 'ok') throw new Error(`the backup failed its check: ${problems.slice(0, 3).join('; ')}`);
    renameSync(partial, dest);
    for (const suffix of SIDE_FILES) rmSync(partial + suffix, { force: true });
  } catch (e) {
    removeWithSideFiles(partial);
    throw new InputError(`cannot back up ${store.file} to ${dest}: ${(e as Error).message}`, 'backup');
  }
}

/** Refreshes the automatic backup if it is missing or older than `maxAgeMs`; returns its file, or null if it was fresh enough. */
export async function keepBackup(store: Store, maxAgeMs: number, now = Date.now()): Promise<string | null> {
  const dest = backupFileOf(store.file);
  if (existsSync(dest) && now - statSync(dest).mtimeMs < maxAgeMs) return null;
  await backupStore(store, dest);
  return dest;
}

/**
 * Puts `backup` in place of the database `file`. The backup must pass
 * `integrity_check`; the file it replaces (damaged, usually) is never
 * overwritten: it and its -wal and -shm are renamed aside, and their name
 * is returned. The database must be closed (the app quit).
 */
export function restoreStore(backup: string, file: string, now = new Date()): { keptAs: string | null } {
  if (!existsSync(backup)) throw new InputError(`there is no backup at ${backup}`, 'backup');
  let problems: string[];
  try {
    problems = checkFile(backup);
  } catch (e) {
    throw new InputError(`${backup} is not a database that can be restored: ${(e as Error).message}`, 'backup');
  }
  if (problems.length !== 1 || problems[0] !== 'ok') throw new InputError(`the backup ${backup} is damaged too (${problems.slice(0, 3).join('; ')})`, 'backup');
  let keptAs: string | null = null;
  if (existsSync(file)) {
    keptAs = `${file.replace(/\.db$/, '')}.damaged-${now.toISOString().replace(/[:.]/g, '-')}.db`;
    for (const suffix of ['', '-wal', '-shm']) {
      if (existsSync(file + suffix)) renameSync(file + suffix, keptAs + suffix);
    }
  }
  // The backup is not live (nothing writes to it), so a file copy is a faithful one.
  copyFileSync(backup, `${file}.restoring`);
  renameSync(`${file}.restoring`, file);
  return { keptAs };
}
