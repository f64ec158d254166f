import Database from 'better-sqlite3';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { HistoryWrites } from '../../../shared/api.js';
import { HistoryWriter, retryDelay } from '../../../main/jobs/host/history-writer.js';
import { openStore } from '../../../main/store/open.js';
import { classifyWriteFailure } from '../../../main/store/write-failure.js';
import { tempDirs, tinyConfig } from '../../helpers/store.js';

const temp = tempDirs('adjoin-writer-');

const sqliteError = (code: string, message = code): Error => Object.assign(new Error(message), { code });

describe('classifyWriteFailure', () => {
  it('names what the user can do about each SQLite and system code', () => {
    const kinds = ['SQLITE_BUSY', 'SQLITE_BUSY_SNAPSHOT', 'SQLITE_LOCKED', 'SQLITE_FULL', 'ENOSPC', 'SQLITE_READONLY', 'SQLITE_READONLY_DBMOVED', 'EROFS']
      .concat(['SQLITE_CANTOPEN', 'SQLITE_IOERR_WRITE', 'SQLITE_IOERR_FSYNC', 'SQLITE_CORRUPT', 'SQLITE_NOTADB', 'SQLITE_CONSTRAINT_FOREIGNKEY'])
      .map((code) => classifyWriteFailure(sqliteError(code)).kind);
    expect(kinds).toEqual([
      'busy',
      'busy',
      'busy',
      'full',
      'full',
      'read-only',
      'read-only',
      'read-only',
      'read-only',
      'io',
      'io',
      'damaged',
      'damaged',
      'other',
    ]);
    expect(classifyWriteFailure(new Error('there is no run 7'))).toEqual({ kind: 'other', reason: 'there is no run 7', code: null });
    expect(classifyWriteFailure(sqliteError('SQLITE_FULL', 'database or disk is full')).reason).toBe('the disk is full (database or disk is full)');
  });
});

describe('retryDelay', () => {
  it('doubles from half a second and caps at ten', () => {
    expect([1, 2, 3, 4, 5, 6, 9].map(retryDelay)).toEqual([500, 1000, 2000, 4000, 8000, 10000, 10000]);
  });
});

describe('HistoryWriter', () => {
  function lockedStore(): { store: ReturnType<typeof openStore>; lock: Database.Database; ids: () => number[] } {
    const file = join(temp(), 'adjoin.db');
    const store = openStore(file, { busyTimeoutMs: 50 });
    // Another program holding the write lock, as `sqlite3` with BEGIN IMMEDIATE does.
    const lock = new Database(file);
    lock.exec('BEGIN IMMEDIATE');
    const ids = (): number[] => (store.db.prepare('SELECT id FROM runs ORDER BY id').all() as Array<{ id: number }>).map((r) => r.id);
    return { store, lock, ids };
  }
  const create = (store: ReturnType<typeof openStore>, seed: number) => () =>
    void store.runs.create({ config: tinyConfig({ seed }), datasetId: null, outDir: `/runs/${seed}`, owner: null }, seed);

  it('keeps writes refused by another program’s lock, in order, says why, and writes them all once the lock goes', () => {
    const { store, lock, ids } = lockedStore();
    const timers: Array<() => void> = [];
    const states: HistoryWrites[] = [];
    const writer = new HistoryWriter(store, { setTimer: (fn) => timers.push(fn), clearTimer: () => undefined, onChange: (s) => states.push(s), now: () => 7 });
    expect(writer.write('first', create(store, 1))).toBe('queued');
    expect(writer.state).toEqual({
      state: 'failing',
      problem: 'busy',
      reason: expect.stringMatching(/another program holds the database’s write lock/),
      pending: 1,
      since: 7,
    });
    // Later writes wait behind it without touching the database; a heartbeat that would wait is skipped.
    expect(writer.write('second', create(store, 2))).toBe('queued');
    expect(writer.write('heartbeat', create(store, 99), { onlyIfIdle: true })).toBe('skipped');
    const released: string[] = [];
    writer.whenWritten(() => released.push('after second'));
    expect(writer.pending).toBe(2);
    // A retry while the lock is still held changes nothing.
    timers.shift()!();
    expect(ids()).toEqual([]);
    expect(writer.state).toMatchObject({ state: 'failing', pending: 2 });
    expect(released).toEqual([]);
    lock.exec('COMMIT');
    timers.shift()!();
    expect(ids()).toEqual([1, 2]);
    expect(store.runs.list().map((r) => r.outDir)).toEqual(['/runs/2', '/runs/1']);
    expect(released).toEqual(['after second']);
    expect(writer.state).toEqual({ state: 'ok' });
    expect(states.map((s) => s.state)).toEqual(['failing', 'failing', 'ok']);
    lock.close();
    store.close();
  });

  it('gives up only on writes that can never succeed, and says so; the writes behind them go on', () => {
    const file = join(temp(), 'adjoin.db');
    const store = openStore(file);
    const dropped: string[] = [];
    const writer = new HistoryWriter(store, { onDropped: (label, f) => dropped.push(`${label}: ${f.reason}`) });
    expect(
      writer.write('epoch of run 404', () => {
        throw new Error('there is no run 404');
      }),
    ).toBe('dropped');
    expect(writer.write('run', create(store, 3))).toBe('written');
    expect(dropped).toEqual(['epoch of run 404: there is no run 404']);
    expect(writer.state).toEqual({ state: 'ok' });
    store.close();
  });

  it('stays within its memory bound however long the history refuses writes: step samples go first, ends never', () => {
    const file = join(temp(), 'adjoin.db');
    const store = openStore(file);
    const writer = new HistoryWriter(store, { maxPending: 3, setTimer: () => 0, clearTimer: () => undefined });
    let full = true;
    const written: string[] = [];
    const write = (name: string) => () => {
      if (full) throw sqliteError('SQLITE_FULL');
      written.push(name);
    };
    writer.write('epoch 1', write('epoch 1'));
    for (let i = 0; i < 5; i++) writer.write(`step ${i}`, write(`step ${i}`), { droppable: true });
    writer.write('finished', write('finished'));
    expect(writer.pending).toBe(3);
    full = false;
    expect(writer.flush()).toBe(true);
    expect(written).toEqual(['epoch 1', 'step 4', 'finished']);
    store.close();
  });

  it('settle waits, retrying, until the history takes the writes or the time is up', async () => {
    const { store, lock, ids } = lockedStore();
    const writer = new HistoryWriter(store, { retryDelay: () => 5 });
    writer.write('run', create(store, 5));
    expect(await writer.settle(20)).toBe(false);
    expect(writer.state).toMatchObject({ state: 'failing', problem: 'busy', pending: 1 });
    lock.exec('COMMIT');
    expect(await writer.settle(60_000)).toBe(true);
    expect(ids()).toEqual([1]);
    writer.close();
    lock.close();
    store.close();
  });
});
