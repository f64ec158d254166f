import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { InputError } from '../../shared/errors.js';
import { backupFileOf, backupStore, checkFile, restoreStore } from '../store/backup.js';
import { lockHistory } from '../store/history-lock.js';
import { deathOf, thisProcess } from '../store/liveness.js';
import { parse } from './args.js';
import type { Command, CommandIo } from './command.js';
import { dbFile, openExisting } from './store-args.js';

const DB_USAGE = `adjoin db check [--db FILE] [--json]
  adjoin db backup [FILE] [--db FILE]
  adjoin db restore [FILE] [--db FILE]
  The history database: check it for damage (PRAGMA integrity_check; exits 1 if damaged), back it up while it is
  in use (SQLite's online backup, checked before it replaces an older backup; default FILE: the automatic backup
  next to it, adjoin.backup.db), or put a backup back (the file it replaces is kept, renamed, never overwritten).`;

function checkCommand(argv: string[], io: CommandIo): number {
  const { values } = parse(argv, { db: { type: 'string' }, json: { type: 'boolean' } });
  const file = dbFile(values.db);
  if (!existsSync(file)) throw new InputError(`there is no Adjoin database at ${file}`, 'db');
  const problems = checkFile(file);
  const ok = problems.length === 1 && problems[0] === 'ok';
  const backup = backupFileOf(file);
  if (values.json === true) io.out(JSON.stringify({ database: file, ok, problems: ok ? [] : problems, backup: existsSync(backup) ? backup : null }));
  else if (ok) io.out(`${file}: ok`);
  else {
    io.out(`${file} is damaged:`);
    for (const p of problems.slice(0, 20)) io.out(`  ${p}`);
    io.out(existsSync(backup) ? `adjoin db restore ${backup} puts back the automatic backup` : 'there is no automatic backup next to it');
  }
  return ok ? 0 : 1;
}

async function backupCommand(argv: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parse(argv, { db: { type: 'string' } }, true);
  if (positionals.length > 1) throw new InputError(`adjoin db backup takes one file, got ${positionals.join(' ')}`, 'backup');
  const store = openExisting(values.db);
  try {
    const dest = resolve(positionals[0] ?? backupFileOf(store.file));
    if (dest === resolve(store.file)) throw new InputError('the backup cannot be the database itself', 'backup');
    await backupStore(store, dest);
    io.out(`backed up ${store.file} to ${dest}`);
    return 0;
  } finally {
    store.close();
  }
}

/** Runs whose process is still alive: the database is in use and must not be replaced under it. */
function liveOwners(file: string): string[] {
  let db: Database.Database;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
  } catch {
    return [];
  }
  try {
    const rows = db
      .prepare(
        `SELECT id, owner_pid AS pid, owner_host AS host, heartbeat_at AS heartbeatAt FROM runs WHERE status IN ('queued', 'running') AND owner_pid IS NOT NULL`,
      )
      .all() as Array<{ id: number; pid: number; host: string; heartbeatAt: number | null }>;
    const probe = thisProcess();
    return rows.filter((r) => deathOf(file, r.id, r, probe) === null).map((r) => `run ${r.id} (pid ${r.pid} on ${r.host})`);
  } catch {
    // Too damaged to read its runs: no process can be using it for anything, so the restore may replace it.
    return [];
  } finally {
    db.close();
  }
}

function restoreCommand(argv: string[], io: CommandIo): number {
  const { values, positionals } = parse(argv, { db: { type: 'string' } }, true);
  if (positionals.length > 1) throw new InputError(`adjoin db restore takes one backup file, got ${positionals.join(' ')}`, 'backup');
  const file = dbFile(values.db);
  const backup = resolve(positionals[0] ?? backupFileOf(file));
  if (backup === resolve(file)) throw new InputError('the backup to restore cannot be the database itself', 'backup');
  // The app or a server that has the history open would go on writing into the file put aside.
  const lock = lockHistory(file, 'adjoin db restore', 'restore a backup');
  let keptAs: string | null;
  try {
    const live = liveOwners(file);
    if (live.length > 0) throw new InputError(`${file} is in use (${live.join(', ')}); stop those runs or quit Adjoin first`, 'db');
    ({ keptAs } = restoreStore(backup, file));
  } finally {
    lock.release();
  }
  io.out(`restored ${file} from ${backup}`);
  if (keptAs !== null) io.out(`the database it replaced is kept as ${keptAs}`);
  return 0;
}

export async function dbCommand(argv: string[], io: CommandIo): Promise<number> {
  switch (argv[0]) {
    case 'check':
      return checkCommand(argv.slice(1), io);
    case 'backup':
      return backupCommand(argv.slice(1), io);
    case 'restore':
      return restoreCommand(argv.slice(1), io);
    default:
      throw new InputError(`adjoin db needs check, backup or restore${argv[0] === undefined ? '' : `, got '${argv[0]}'`}`, 'command');
  }
}

export const dbCmd: Command = { name: 'db', usage: DB_USAGE, run: dbCommand };
