import { spawn } from 'node:child_process';
import Database from 'better-sqlite3';
import { closeSync, existsSync, mkdirSync, openSync, rmSync, symlinkSync, writeSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import type { HistoryWrites } from '../../../shared/api.js';
import { dispatch } from '../../../main/api/dispatch.js';
import { startServices, type Services } from '../../../main/api/services.js';
import type { ManagerEvent } from '../../../main/jobs/host/manager.js';
import { heldMessage } from '../../../main/jobs/test-hooks.js';
import { openStore } from '../../../main/store/open.js';
import { startServer } from '../../../main/server/server.js';
import { ADJOIN_BIN } from '../../helpers/cli.js';
import { tryMountTmpfs, unmount } from '../../helpers/mount.js';
import { httpRequest } from '../../helpers/raw-http.js';
import { SYNTHETIC, tempDirs, tinyConfig } from '../../helpers/store.js';

/**
 * The history refusing writes while a run trains — another program holding
 * its write lock past the busy timeout, its disk full — must neither take
 * the server down nor lose the run's end.
 */
const temp = tempDirs('adjoin-write-failures-');
const DATA = { path: 'synthetic:classes=3,size=12,train=64,val=16', settings: {}, limitTrain: null, limitVal: null };

/** Resolves with the first manager event that `match` accepts. */
function next(services: Services, match: (e: ManagerEvent) => boolean): Promise<ManagerEvent> {
  return new Promise((resolve) => {
    const off = services.manager.subscribe((e) => {
      if (!match(e)) return;
      off();
      resolve(e);
    });
  });
}

const held = (e: ManagerEvent): boolean => e.type === 'run:event' && e.event.type === 'log' && e.event.message === heldMessage(2);
const failing =
  (problem: string) =>
  (e: ManagerEvent): boolean =>
    e.type === 'history:writes' && e.state.state === 'failing' && e.state.problem === problem;
const runEnded = (e: ManagerEvent): boolean => e.type === 'run:event' && e.event.type === 'finished';

function heldServices(dir: string, database: string): { services: Services; release: () => void } {
  const releaseFile = join(dir, 'release');
  const services = startServices({
    database,
    shell: 'browser',
    native: null,
    env: { ...process.env, ADJOIN_TEST_HOOKS: '1', ADJOIN_TEST_HOLD_AT_STEP: '2', ADJOIN_TEST_RELEASE_FILE: releaseFile },
    retryDelay: () => 100,
  });
  return { services, release: () => writeFileSync(releaseFile, '') };
}

/** Fills the file system under `dir` to the last byte; returns the filler's path (remove it to free the space). */
function fillDisk(dir: string): string {
  const file = join(dir, 'filler');
  const fd = openSync(file, 'w');
  try {
    for (const size of [1 << 16, 4096, 1]) {
      const chunk = Buffer.alloc(size, 1);
      for (;;) {
        try {
          writeSync(fd, chunk);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'ENOSPC') break;
          throw e;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
  return file;
}

/** Moves the WAL's frames into the database and empties it, so the next write needs new disk blocks. */
function emptyWal(database: string): void {
  const db = new Database(database);
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
}

describe('a history that refuses writes while adjoin serve trains', () => {
  it('another process holds the write lock past the busy timeout: the server answers, says so, and records the run once the lock goes', async () => {
    const dir = temp();
    const database = join(dir, 'adjoin.db');
    const { services, release } = heldServices(dir, database);
    writeFileSync(join(dir, 'index.html'), '<!doctype html><title>Adjoin</title>');
    const server = await startServer({ handlers: services.handlers, subscribe: (l) => services.manager.subscribe(l), rendererDir: dir });
    try {
      const isHeld = next(services, held);
      const runId = services.manager.startTrain(DATA, tinyConfig({ epochs: 2 }));
      const ended = services.manager.ended(runId);
      await isHeld;
      // `sqlite3` takes the write lock and keeps it until told to commit.
      const sqlite = spawn('sqlite3', [database], { stdio: ['pipe', 'pipe', 'inherit'] });
      const lines = createInterface({ input: sqlite.stdout });
      const locked = new Promise<void>((resolve) => lines.once('line', () => resolve()));
      sqlite.stdin.write('BEGIN IMMEDIATE;\n.print locked\n');
      await locked;

      const refused = next(services, failing('busy'));
      const finished = next(services, runEnded);
      release();
      // The first write waits out the busy timeout, then the run's updates wait in memory.
      const state = ((await refused) as { state: HistoryWrites }).state;
      expect(state).toMatchObject({ state: 'failing', reason: expect.stringMatching(/another program holds the database’s write lock/) });
      await finished;
      // The run's process is done; its end waits for the history. The server still answers, over HTTP and the API.
      expect((await httpRequest(server.port, '/')).status).toBe(200);
      const info = await dispatch(services.handlers, 'app:info', {});
      expect(info).toMatchObject({ ok: true, value: { historyWrites: { state: 'failing', problem: 'busy' } } });
      expect(services.manager.activeRuns()).toContain(runId);

      const recovered = next(services, (e) => e.type === 'history:writes' && e.state.state === 'ok');
      sqlite.stdin.end('COMMIT;\n.quit\n');
      await recovered;
      expect(await ended).toEqual({ status: 'finished' });
      expect(services.store.runs.require(runId)).toMatchObject({ status: 'finished', epochsDone: 2 });
      expect(services.store.metrics.epochs(runId).map((e) => e.epoch)).toEqual([1, 2]);
      expect(services.store.integrityCheck()).toEqual(['ok']);
    } finally {
      await server.close();
      await services.close();
    }
  });

  it('its disk fills up: the run goes on, the banner’s state says the disk is full, and the run is recorded once space is freed', async (ctx) => {
    const dir = temp();
    const mnt = join(dir, 'mnt');
    mkdirSync(mnt);
    if (!tryMountTmpfs(mnt, 'size=4m')) return ctx.skip();
    const database = join(mnt, 'adjoin.db');
    // Only the history's disk fills: the run's own folder (runs/ next to it) is on another.
    mkdirSync(join(dir, 'runs'));
    symlinkSync(join(dir, 'runs'), join(mnt, 'runs'));
    const { services, release } = heldServices(dir, database);
    try {
      const isHeld = next(services, held);
      const runId = services.manager.startTrain(DATA, tinyConfig({ epochs: 2 }));
      await isHeld;
      emptyWal(database);
      const filler = fillDisk(mnt);
      const refused = next(services, failing('full'));
      const finished = next(services, runEnded);
      release();
      expect(((await refused) as { state: HistoryWrites }).state).toMatchObject({ reason: expect.stringMatching(/the disk is full/) });
      await finished;
      expect(services.manager.activeRuns()).toContain(runId);
      expect(await dispatch(services.handlers, 'app:info', {})).toMatchObject({ ok: true, value: { historyWrites: { state: 'failing', problem: 'full' } } });

      rmSync(filler);
      expect(await services.manager.ended(runId)).toEqual({ status: 'finished' });
      expect(services.manager.writer.state).toEqual({ state: 'ok' });
      expect(services.store.runs.require(runId)).toMatchObject({ status: 'finished', epochsDone: 2 });
      expect(services.store.integrityCheck()).toEqual(['ok']);
    } finally {
      await services.close();
      unmount(mnt);
    }
  });
});

describe('a history whose disk fills up while adjoin train runs', () => {
  /** `adjoin train` on a history in a small tmpfs, held at step 2 until the test has filled the disk. */
  async function heldTrain(dir: string, database: string, waitSeconds: string) {
    const releaseFile = join(dir, 'release');
    const child = spawn(
      process.execPath,
      // Only the history's disk fills: the run's folder (--out) is on another.
      [
        ADJOIN_BIN,
        'train',
        '--data',
        SYNTHETIC,
        '--width',
        '0.125',
        '--alpha',
        '2',
        '--epochs',
        '2',
        '--batch',
        '16',
        '--json',
        '--db',
        database,
        '--out',
        join(dir, 'out'),
      ],
      {
        env: {
          ...process.env,
          ADJOIN_BACKEND: 'wasm',
          ADJOIN_HOME: dir,
          ADJOIN_TEST_HOOKS: '1',
          ADJOIN_TEST_HOLD_AT_STEP: '2',
          ADJOIN_TEST_RELEASE_FILE: releaseFile,
          ADJOIN_RECORD_WAIT_S: waitSeconds,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const stderr = createInterface({ input: child.stderr });
    const errLines: string[] = [];
    const waiters: Array<{ match: RegExp; resolve: () => void }> = [];
    stderr.on('line', (l) => {
      errLines.push(l);
      for (const w of waiters.filter((x) => x.match.test(l))) w.resolve();
    });
    const onStderr = (match: RegExp): Promise<void> =>
      errLines.some((l) => match.test(l)) ? Promise.resolve() : new Promise((resolve) => waiters.push({ match, resolve }));
    const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    for await (const line of createInterface({ input: child.stdout })) {
      const e = JSON.parse(line) as { type: string; message?: string };
      if (e.type === 'log' && e.message === heldMessage(2)) break;
    }
    return { release: () => writeFileSync(releaseFile, ''), onStderr, exit, stderr: () => errLines.join('\n') };
  }

  it('waits at its end, says why, and records the run as finished once space is freed (exit 0)', async (ctx) => {
    const dir = temp();
    const mnt = join(dir, 'mnt');
    mkdirSync(mnt);
    if (!tryMountTmpfs(mnt, 'size=4m')) return ctx.skip();
    try {
      const database = join(mnt, 'adjoin.db');
      const run = await heldTrain(dir, database, '600');
      emptyWal(database);
      const filler = fillDisk(mnt);
      run.release();
      await run.onStderr(/warning: cannot write to the history .*: the disk is full/);
      await run.onStderr(/waiting up to 600 s for the history .* to take \d+ updates/);
      rmSync(filler);
      expect(await run.exit, run.stderr()).toBe(0);
      const store = openStore(database, { check: 'refuse' });
      expect(store.runs.list()).toMatchObject([{ status: 'finished', epochsDone: 2 }]);
      store.close();
    } finally {
      unmount(mnt);
    }
  });

  it('exits 3 with the reason when the history never takes the outcome; the run is then interrupted, resumable from its checkpoint', async (ctx) => {
    const dir = temp();
    const mnt = join(dir, 'mnt');
    mkdirSync(mnt);
    if (!tryMountTmpfs(mnt, 'size=4m')) return ctx.skip();
    try {
      const database = join(mnt, 'adjoin.db');
      const run = await heldTrain(dir, database, '1');
      emptyWal(database);
      const filler = fillDisk(mnt);
      run.release();
      expect(await run.exit, run.stderr()).toBe(3);
      expect(run.stderr()).toMatch(
        /adjoin: error: run 1 finished, but the history .*adjoin\.db would not take its outcome: the disk is full .*; its files are in /,
      );
      rmSync(filler);
      const store = openStore(database, { check: 'refuse' });
      const [recorded] = store.runs.list();
      store.close();
      // Its process is gone: the next process to open the history marks it interrupted; its folder holds the last checkpoint.
      expect(recorded).toMatchObject({ status: 'interrupted', outDir: join(dir, 'out') });
      expect(existsSync(join(dir, 'out', 'checkpoint.ckpt'))).toBe(true);
    } finally {
      unmount(mnt);
    }
  });
});
