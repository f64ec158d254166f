import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import { startServices } from '../../../main/api/services.js';
import { backupFileOf, backupStore } from '../../../main/store/backup.js';
import { HistoryInUseError, holderOf, lockFileOf, lockHistory } from '../../../main/store/history-lock.js';
import { openStore } from '../../../main/store/open.js';
import { ADJOIN_BIN, runCli } from '../../helpers/cli.js';
import { historyWithRuns, tempDirs } from '../../helpers/store.js';

const temp = tempDirs('adjoin-history-lock-');

describe('the exclusive marker on a history', () => {
  it('admits one holder; a second is refused with the first named; released, it can be taken again', () => {
    const file = join(temp(), 'adjoin.db');
    const first = lockHistory(file, 'adjoin serve', 'open the history');
    expect(holderOf(file)).toMatchObject({ kind: 'adjoin serve', pid: process.pid, host: hostname() });
    expect(() => lockHistory(file, 'adjoin db restore', 'restore a backup')).toThrow(HistoryInUseError);
    expect(() => lockHistory(file, 'adjoin db restore', 'restore a backup')).toThrow(
      new RegExp(`cannot restore a backup: the history .*adjoin\\.db is open in adjoin serve \\(pid ${process.pid} on `),
    );
    first.release();
    expect(existsSync(lockFileOf(file))).toBe(false);
    lockHistory(file, 'adjoin db restore', 'restore a backup').release();
  });

  it('is taken over from a process that died holding it (kill -9), and a cut-short marker holds nothing', () => {
    const file = join(temp(), 'adjoin.db');
    const dead = { pid: 4_000_000, host: hostname(), now: Date.now, isAlive: () => false, ownsRun: () => false };
    writeFileSync(lockFileOf(file), JSON.stringify({ kind: 'adjoin serve', pid: dead.pid, host: dead.host, since: 1 }));
    expect(holderOf(file, dead)).toBeNull();
    const lock = lockHistory(file, 'the desktop app', 'open the history');
    expect(JSON.parse(readFileSync(lockFileOf(file), 'utf8'))).toMatchObject({ kind: 'the desktop app', pid: process.pid });
    lock.release();
    writeFileSync(lockFileOf(file), '{"kind":"adjo');
    expect(holderOf(file)).toBeNull();
    lockHistory(file, 'adjoin serve', 'open the history').release();
  });

  it('a history open in the app or a server: a second one is refused, and so is adjoin db restore, naming the process', async () => {
    const dir = temp();
    const file = join(dir, 'adjoin.db');
    historyWithRuns(file, 3, 'cancelled');
    const sound = openStore(file);
    await backupStore(sound, backupFileOf(file));
    sound.close();
    const services = startServices({ database: file, shell: 'browser', native: null });
    try {
      expect(() => startServices({ database: file, shell: 'electron', native: null })).toThrow(/is open in adjoin serve \(pid \d+/);
      const refused = runCli(['db', 'restore', '--db', file], { env: { ADJOIN_HOME: dir } });
      expect(refused.status).toBe(2);
      expect(refused.stderr).toMatch(new RegExp(`cannot restore a backup: the history .*adjoin\\.db is open in adjoin serve \\(pid ${process.pid} on `));
      expect(refused.stderr.trim().split('\n')).toHaveLength(1);
      // Nothing was put aside: the server goes on with the file the user sees.
      expect(existsSync(file)).toBe(true);
      services.store.runs.create({ config: services.store.runs.require(1).config, datasetId: null, outDir: null, owner: null }, 5);
    } finally {
      await services.close();
    }
    expect(existsSync(lockFileOf(file))).toBe(false);
    const restored = runCli(['db', 'restore', '--db', file], { env: { ADJOIN_HOME: dir } });
    expect(restored.status, restored.stderr).toBe(0);
  });

  it('a server killed with kill -9 leaves its marker behind; restore sees that its process is gone and goes ahead', async () => {
    const dir = temp();
    const file = join(dir, 'adjoin.db');
    historyWithRuns(file, 2, 'cancelled');
    const sound = openStore(file);
    await backupStore(sound, backupFileOf(file));
    sound.close();
    const serve = spawn(process.execPath, [ADJOIN_BIN, 'serve', '--port', '0', '--json', '--db', file], {
      env: { ...process.env, ADJOIN_HOME: dir },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const lines = createInterface({ input: serve.stdout });
    await new Promise<void>((resolve) => lines.once('line', () => resolve()));
    expect(holderOf(file)).toMatchObject({ kind: 'adjoin serve', pid: serve.pid });
    const exited = new Promise((resolve) => serve.once('exit', resolve));
    serve.kill('SIGKILL');
    await exited;
    expect(existsSync(lockFileOf(file))).toBe(true);
    const restored = runCli(['db', 'restore', '--db', file], { env: { ADJOIN_HOME: dir } });
    expect(restored.status, restored.stderr).toBe(0);
    expect(existsSync(lockFileOf(file))).toBe(false);
  });
});

describe('a history another program keeps locked', () => {
  it('a command that opens it says so in one line (exit 2), not with a stack trace', async () => {
    const dir = temp();
    const file = join(dir, 'adjoin.db');
    historyWithRuns(file, 1, 'cancelled');
    const sqlite = spawn('sqlite3', [file], { stdio: ['pipe', 'pipe', 'inherit'] });
    const lines = createInterface({ input: sqlite.stdout });
    const locked = new Promise<void>((resolve) => lines.once('line', () => resolve()));
    sqlite.stdin.write('BEGIN IMMEDIATE;\n.print locked\n');
    await locked;
    try {
      const r = runCli(['runs', '--db', file], { env: { ADJOIN_HOME: dir } });
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(
        /^adjoin: error: cannot open the database .*adjoin\.db: another program holds its write lock and did not let go in time \(database is locked\)/,
      );
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    } finally {
      sqlite.stdin.end('COMMIT;\n.quit\n');
      await new Promise((resolve) => sqlite.once('exit', resolve));
    }
  });
});
