import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { dispatch } from '../../../main/api/dispatch.js';
import { startServices } from '../../../main/api/services.js';
import { backupFileOf, backupStore, checkFile, restoreStore } from '../../../main/store/backup.js';
import { DamagedDatabaseError, openStore } from '../../../main/store/open.js';
import type { ApiResult, AppInfo } from '../../../shared/api.js';
import { runCli } from '../../helpers/cli.js';
import { tryMountTmpfs, unmount } from '../../helpers/mount.js';
import { damageDatabaseFile as damage, historyWithRuns, tempDirs, tinyConfig } from '../../helpers/store.js';

const temp = tempDirs('adjoin-db-reliability-');
const OPEN_MODULE = fileURLToPath(new URL('../../../build/main/store/open.js', import.meta.url));

const sha256 = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');

describe('a damaged history (docs/RELIABILITY.md row 16)', () => {
  it('is found at launch, refused or opened read-only, and never written over', () => {
    const file = join(temp(), 'adjoin.db');
    historyWithRuns(file, 200);
    damage(file);
    const before = sha256(file);
    expect(() => openStore(file, { check: 'refuse' })).toThrow(DamagedDatabaseError);
    expect(() => openStore(file, { check: 'refuse' })).toThrow(/is damaged \(.*malformed.*\); it was left untouched\. adjoin db restore <backup>/);
    const store = openStore(file, { check: 'read-only' });
    expect(store.damage).not.toBeNull();
    expect(() => store.requireWritable('start a run')).toThrow(/cannot start a run: the history database .* is damaged .* open read-only/);
    store.close();
    expect(sha256(file)).toBe(before);
  });

  it('puts the app in read-only mode: app:info says so, and starting a run is refused with the way back', async () => {
    const dir = temp();
    const file = join(dir, 'adjoin.db');
    historyWithRuns(file, 200);
    const sound = openStore(file);
    await backupStore(sound, backupFileOf(file));
    sound.close();
    damage(file);
    const services = startServices({ database: file, shell: 'browser', native: null });
    try {
      const info = (await dispatch(services.handlers, 'app:info', {})) as ApiResult<AppInfo>;
      expect(info).toMatchObject({ ok: true, value: { databaseDamage: [expect.stringMatching(/malformed/)], databaseBackup: backupFileOf(file) } });
      const refused = await dispatch(services.handlers, 'runs:delete', { runId: 1 });
      expect(refused).toMatchObject({ ok: false, error: { field: 'db', message: expect.stringMatching(/cannot delete a run: .* damaged/) } });
    } finally {
      await services.close();
    }
  });
});

describe('backups (docs/RELIABILITY.md row 15)', () => {
  it('are taken while another process writes without pause, pass integrity_check, leave no stray files, and restore in place of a damaged file kept aside', async () => {
    const dir = temp();
    const file = join(dir, 'adjoin.db');
    // Big enough (about 2 MB) that a page-by-page copy takes many steps.
    historyWithRuns(file, 2000);
    // Another process adds runs without pause until it is told to stop, so the backup must finish under its writes.
    const writerScript = join(dir, 'writer.mjs');
    writeFileSync(
      writerScript,
      `const { openStore } = await import(${JSON.stringify(OPEN_MODULE)});
       const store = openStore(${JSON.stringify(file)});
       const config = JSON.parse(process.argv[2]);
       let stop = false;
       let written = 0;
       process.stdin.on('end', () => (stop = true)).resume();
       const burst = () => {
         for (let i = 0; i < 5; i++) store.runs.create({ config, datasetId: null, outDir: null, owner: null }, written++);
         if (written === 5) process.stdout.write('ready\\n');
         if (stop) { store.close(); process.stdout.write(String(written)); return; }
         setImmediate(burst);
       };
       burst();`,
    );
    const writer = spawn(process.execPath, [writerScript, JSON.stringify(tinyConfig())], { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    writer.stdout.on('data', (d: Buffer) => (out += d.toString()));
    await new Promise((resolve) => writer.stdout.once('data', resolve));
    const store = openStore(file);
    const dest = join(dir, 'copy.db');
    try {
      await backupStore(store, dest);
    } finally {
      store.close();
    }
    // The writer was still writing when the backup was done.
    expect(writer.exitCode).toBeNull();
    const exited = new Promise((resolve) => writer.once('exit', resolve));
    writer.stdin.end();
    await exited;
    expect(Number(out.split('\n').at(-1))).toBeGreaterThan(5);
    expect(checkFile(dest)).toEqual(['ok']);
    expect(readdirSync(dir).filter((f) => f.startsWith('copy.db'))).toEqual(['copy.db']);
    const copy = openStore(dest);
    const copied = copy.runs.list().length;
    copy.close();
    expect(copied).toBeGreaterThanOrEqual(2000);

    damage(file);
    const { keptAs } = restoreStore(dest, file, new Date('2026-11-25T12:00:00Z'));
    expect(keptAs).toBe(join(dir, 'adjoin.damaged-2026-11-25T12-00-00-000Z.db'));
    expect(checkFile(keptAs!)[0]).toMatch(/malformed/);
    const restored = openStore(file, { check: 'refuse' });
    expect(restored.runs.list()).toHaveLength(copied);
    restored.close();
  });

  it('refuse a damaged backup and leave the database alone', () => {
    const dir = temp();
    const file = join(dir, 'adjoin.db');
    const bad = join(dir, 'bad.db');
    historyWithRuns(file, 3);
    historyWithRuns(bad, 200);
    damage(bad);
    const before = sha256(file);
    expect(() => restoreStore(bad, file)).toThrow(/the backup .*bad\.db is damaged too|is not a database that can be restored/);
    expect(sha256(file)).toBe(before);
    expect(readdirSync(dir).filter((f) => f.includes('damaged'))).toEqual([]);
  });

  it('adjoin db check, backup and restore work from the command line', () => {
    const dir = temp();
    const file = join(dir, 'adjoin.db');
    historyWithRuns(file, 200);
    const env = { ADJOIN_HOME: dir };
    expect(runCli(['db', 'check', '--db', file, '--json'], { env }).stdout).toContain('"ok":true');
    const backedUp = runCli(['db', 'backup', '--db', file], { env });
    expect(backedUp.status, backedUp.stderr).toBe(0);
    expect(existsSync(join(dir, 'adjoin.backup.db'))).toBe(true);
    damage(file);
    const check = runCli(['db', 'check', '--db', file], { env });
    expect(check.status).toBe(1);
    expect(check.stdout).toMatch(/is damaged:[\s\S]*adjoin db restore .*adjoin\.backup\.db puts back the automatic backup/);
    const restore = runCli(['db', 'restore', '--db', file], { env });
    expect(restore.status, restore.stderr).toBe(0);
    expect(restore.stdout).toMatch(/the database it replaced is kept as .*adjoin\.damaged-.*\.db/);
    expect(runCli(['db', 'check', '--db', file], { env }).status).toBe(0);
    expect(runCli(['db', 'frobnicate'], { env }).stderr).toMatch(/adjoin db needs check, backup or restore, got 'frobnicate'/);
  });
});

describe('read-only and full file systems (docs/RELIABILITY.md row 14)', () => {
  const remount = (dir: string, options: string): boolean => spawnSync('mount', ['-o', `remount,${options}`, dir], { stdio: 'ignore' }).status === 0;

  it('a history on a read-only file system is refused with the reason, not a crash', (ctx) => {
    const dir = temp();
    const mnt = join(dir, 'mnt');
    mkdirSync(mnt);
    if (!tryMountTmpfs(mnt, 'size=8m')) return ctx.skip();
    try {
      const file = join(mnt, 'adjoin.db');
      historyWithRuns(file, 3);
      expect(remount(mnt, 'ro')).toBe(true);
      expect(() => openStore(file)).toThrow(
        /cannot open the database .*adjoin\.db: (its folder or file is read-only|the file or its folder cannot be written)/,
      );
    } finally {
      unmount(mnt);
    }
  });

  it('a full disk fails the write with SQLITE_FULL and leaves a sound database with every committed run', (ctx) => {
    const dir = temp();
    const mnt = join(dir, 'mnt');
    mkdirSync(mnt);
    if (!tryMountTmpfs(mnt, 'size=512k')) return ctx.skip();
    try {
      const file = join(mnt, 'adjoin.db');
      const store = openStore(file);
      const big = tinyConfig();
      let committed = 0;
      let failure: unknown = null;
      for (let i = 0; i < 10_000 && failure === null; i++) {
        try {
          // Each run carries a large config: the file system fills within a few hundred.
          store.runs.create({ config: { ...big, seed: i }, datasetId: null, outDir: `${'x'.repeat(2000)}-${i}`, owner: null }, i);
          committed += 1;
        } catch (e) {
          failure = e;
        }
      }
      expect((failure as { code?: string }).code).toBe('SQLITE_FULL');
      store.close();
      expect(remount(mnt, 'size=8m')).toBe(true);
      const reopened = openStore(file, { check: 'refuse' });
      expect(reopened.integrityCheck()).toEqual(['ok']);
      expect(reopened.runs.list()).toHaveLength(committed);
      reopened.close();
    } finally {
      unmount(mnt);
    }
  });
});
