import { existsSync, readdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DataSource } from '../../../shared/api.js';
import type { EngineEvent, StartedEvent } from '../../../shared/events.js';
import type { SweepSpec } from '../../../shared/sweep.js';
import { exportModels } from '../../../main/jobs/host/exports.js';
import { JobManager, type ManagerEvent } from '../../../main/jobs/host/manager.js';
import { RemoteRuns } from '../../../main/jobs/host/queue/remote-runs.js';
import { runRemoteSweep } from '../../../main/jobs/host/queue/remote-sweep.js';
import { SweepRunner } from '../../../main/jobs/host/sweep-runner.js';
import { QUEUE_PREFIX, RUN_QUEUE } from '../../../main/jobs/queue/layout.js';
import { openStore } from '../../../main/store/open.js';
import type { Store } from '../../../main/store/store.js';
import { heldMessage } from '../../../main/jobs/test-hooks.js';
import { png } from '../../helpers/image-files.js';
import { startWorker, type WorkerProcess } from '../../helpers/queue-workers.js';
import { HAS_REDIS, startRedis, type RedisServer } from '../../helpers/redis.js';
import { tempDirs, tinyConfig } from '../../helpers/store.js';

const tempDir = tempDirs('adjoin-queue-');
const SYNTHETIC: DataSource = { path: 'synthetic:classes=3,size=12,train=48,val=24', settings: {}, limitTrain: null, limitVal: null };

interface Host {
  store: Store;
  manager: JobManager;
  remote: RemoteRuns;
  events: ManagerEvent[];
  warnings: string[];
  close(): Promise<void>;
}

/** A submitting host on a history of its own (or on `file`, to open one again). */
function host(file = join(tempDir(), 'adjoin.db')): Host {
  const store = openStore(file);
  const manager = new JobManager(store, { runsDir: join(file, '..', 'runs'), cacheDir: join(file, '..', 'cache') });
  const warnings: string[] = [];
  const remote = new RemoteRuns(manager, { runsDir: join(file, '..', 'runs'), cacheDir: join(file, '..', 'cache'), onWarning: (m) => warnings.push(m) });
  const events: ManagerEvent[] = [];
  manager.subscribe((e) => events.push(e));
  return {
    store,
    manager,
    remote,
    events,
    warnings,
    close: async () => {
      await manager.stopAll();
      store.close();
    },
  };
}

/** The next manager event (from now) that passes `test`. */
function next(h: Host, test: (e: ManagerEvent) => boolean): Promise<ManagerEvent> {
  return new Promise((resolve) => {
    const off = h.manager.subscribe((e) => {
      if (!test(e)) return;
      off();
      resolve(e);
    });
  });
}

/** The test hook's word that the run is held before the given step, mid-way through epoch 2. */
const heldMidway =
  (runId: number) =>
  (e: ManagerEvent): boolean =>
    e.type === 'run:event' && e.runId === runId && e.event.type === 'log' && e.event.message === heldMessage(4);

const isEvent =
  (runId: number, type: EngineEvent['type'], extra: (e: EngineEvent) => boolean = () => true) =>
  (e: ManagerEvent): boolean =>
    e.type === 'run:event' && e.runId === runId && e.event.type === type && extra(e.event);

/** Resolves once the run's job is on the queue (its row says so, and a `runs:changed` follows). */
async function onQueue(h: Host, runId: number): Promise<void> {
  if (h.store.queueRuns.get(runId)?.submittedAt != null) return;
  await next(h, (e) => e.type === 'runs:changed' && e.runId === runId && h.store.queueRuns.get(runId)?.submittedAt != null);
}

function tinySweep(modes: SweepSpec['modes'], data: DataSource = SYNTHETIC): SweepSpec {
  const c = tinyConfig();
  return {
    data,
    model: c.model,
    modes,
    alphas: [2],
    seeds: [0],
    epochs: 2,
    batchSize: 16,
    optimizer: c.optimizer,
    schedule: c.schedule,
    loss: c.loss,
    smallCes: [0],
    augmentation: c.augmentation,
    kd: { temperature: 4, weight: 0.9 },
    checkpointEvery: 1,
  };
}

const epochsOf = (h: Host, runId: number): number[] => h.store.metrics.epochs(runId).map((e) => e.epoch);
const startedOf = (h: Host, runId: number): StartedEvent[] =>
  h.events.flatMap((e) => (e.type === 'run:event' && e.runId === runId && e.event.type === 'started' ? [e.event] : []));

/** What the queue still holds: jobs in any state and Adjoin's file hashes. */
async function leftOnQueue(url: string): Promise<{ jobs: number; files: string[] }> {
  const queue = new Queue(RUN_QUEUE, { connection: { url }, prefix: QUEUE_PREFIX });
  const redis = new Redis(url);
  try {
    const counts = await queue.getJobCounts();
    const files = await redis.keys(`${QUEUE_PREFIX}:files:*`);
    return { jobs: Object.values(counts).reduce((a, b) => a + b, 0), files };
  } finally {
    await queue.close();
    redis.disconnect();
  }
}

describe.skipIf(!HAS_REDIS)('runs on a queue of adjoin workers (a real redis-server)', () => {
  let redis: RedisServer;
  const workers: WorkerProcess[] = [];
  const worker = async (url: string, name: string, o: Parameters<typeof startWorker>[2] = {}): Promise<WorkerProcess> => {
    const w = await startWorker(url, name, o);
    workers.push(w);
    return w;
  };
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await Promise.all(workers.map((w) => (w.child.exitCode === null && w.child.signalCode === null ? w.kill9() : undefined)));
    await redis?.stop();
  });

  it('two workers, a sweep of four cells: each run finished and recorded once, with its worker; export works as for a local run (docs/RELIABILITY.md row 40)', async () => {
    const url = redis.url(1);
    await Promise.all([worker(url, 'alpha'), worker(url, 'beta')]);
    const h = host();
    const spec = tinySweep(['standard', 'small', 'kd', 'an']);
    const sweepId = h.store.sweeps.create(spec, { pid: process.pid, host: hostname() }, Date.now(), url);
    expect(await runRemoteSweep(h.remote, sweepId)).toBe('finished');

    const sweep = h.store.sweeps.require(sweepId);
    const runIds = [...sweep.cells.values()].map((c) => c.runId);
    expect(runIds).toHaveLength(4);
    expect(h.store.runs.list()).toHaveLength(4);
    const names = new Set<string>();
    for (const id of runIds) {
      const run = h.store.runs.require(id!);
      expect(run.status, run.error ?? '').toBe('finished');
      expect(epochsOf(h, run.id)).toEqual([1, 2]);
      expect(run.backend).toBe('wasm');
      expect(run.worker?.host).toBe(hostname());
      names.add(run.worker!.name);
      // Stored as for a local run: the outputs are files in the run's folder here.
      expect(run.outDir!.startsWith(join(h.store.file, '..', 'runs'))).toBe(true);
      expect(existsSync(run.outputs!.network)).toBe(true);
      expect(run.checkpointPath !== null && existsSync(run.checkpointPath)).toBe(true);
    }
    expect([...names].sort()).toEqual(['alpha', 'beta']);
    // The kd run was taught by the standard run of its seed, whose network the history keeps where it is here.
    const kd = h.store.runs.require(sweep.cells.get('kd-a2-s0')!.runId!);
    const teacher = h.store.runs.require(sweep.cells.get('standard-s0')!.runId!);
    expect(kd.config.mode === 'kd' ? kd.config.kd : null).toMatchObject({ teacherRun: teacher.id, teacher: teacher.outputs!.network });
    expect(kd.startedAt!).toBeGreaterThanOrEqual(teacher.finishedAt!);
    expect(await leftOnQueue(url)).toEqual({ jobs: 0, files: [] });

    const an = h.store.runs.require(sweep.cells.get('an-a2-b0-s0')!.runId!);
    const [model] = await exportModels(h.store, {
      runId: an.id,
      format: 'onnx',
      precision: 'fp32',
      full: false,
      outDir: join(tempDir(), 'onnx'),
      cacheDir: join(tempDir(), 'cache'),
    });
    expect(model!.verification.top1Agreement).toBe(1);
    expect(h.store.models.list(an.id)).toHaveLength(1);
    await h.close();
  }, 600_000);

  it('kill -9 of a worker mid-run: another takes the run over from its last checkpoint, recorded once (docs/RELIABILITY.md row 41)', async () => {
    const url = redis.url(2);
    // Held before the second step of epoch 2: epoch 1's checkpoint has travelled by then.
    const doomed = await worker(url, 'doomed', { env: { ADJOIN_TEST_HOOKS: '1', ADJOIN_TEST_HOLD_AT_STEP: '4' } });
    const h = host();
    const runId = await h.remote.submit({ queue: url, data: SYNTHETIC, config: tinyConfig() });
    const checkpoint = next(
      h,
      isEvent(runId, 'checkpoint', (e) => e.type === 'checkpoint' && e.epoch === 1),
    );
    await next(h, heldMidway(runId));
    await checkpoint;
    const rescuer = await worker(url, 'rescuer');
    await doomed.kill9();
    const ended = h.manager.ended(runId);
    expect(await ended).toEqual({ status: 'finished' });

    const run = h.store.runs.require(runId);
    expect(run.status).toBe('finished');
    expect(run.worker?.name).toBe('rescuer');
    expect(epochsOf(h, runId)).toEqual([1, 2]);
    expect(startedOf(h, runId).map((e) => e.resumedFrom)).toEqual([null, { epoch: 1, step: 0 }]);
    // Steps of the dead attempt after the checkpoint were replaced by the new attempt's, not added to them.
    const steps = h.store.metrics.steps(runId).map((s) => s.globalStep);
    expect(new Set(steps).size).toBe(steps.length);
    expect(rescuer.output()).toMatch(/resumed at epoch 2/);
    expect(h.store.runs.list()).toHaveLength(1);
    await h.close();
  }, 600_000);

  it('cancel takes a waiting run off the queue, stops a running one after its step with a checkpoint, and Resume continues it (docs/RELIABILITY.md row 42)', async () => {
    const url = redis.url(3);
    const h = host();
    const waiting = await h.remote.submit({ queue: url, data: SYNTHETIC, config: tinyConfig() });
    await onQueue(h, waiting);
    expect(h.manager.cancel(waiting)).toBe('cancelled');
    expect(await h.manager.ended(waiting)).toMatchObject({ status: 'cancelled' });
    expect(h.store.runs.require(waiting).status).toBe('cancelled');
    expect(await leftOnQueue(url)).toEqual({ jobs: 0, files: [] });

    const holder = await worker(url, 'held', { env: { ADJOIN_TEST_HOOKS: '1', ADJOIN_TEST_HOLD_AT_STEP: '4' } });
    const running = await h.remote.submit({ queue: url, data: SYNTHETIC, config: tinyConfig() });
    await next(h, heldMidway(running));
    expect(h.manager.cancel(running)).toBe('running');
    expect(await h.manager.ended(running)).toMatchObject({ status: 'cancelled' });
    const cancelled = h.store.runs.require(running);
    expect(cancelled.status).toBe('cancelled');
    expect(cancelled.checkpointPath !== null && existsSync(cancelled.checkpointPath)).toBe(true);
    expect(cancelled.checkpointPath!.startsWith(cancelled.outDir!)).toBe(true);
    expect(holder.output()).toMatch(/cancelled/);

    // Resume puts it on the queue again from the checkpoint here.
    expect(await holder.interrupt()).toBe(130);
    await worker(url, 'fresh');
    h.manager.resume(running);
    expect(await h.manager.ended(running)).toEqual({ status: 'finished' });
    expect(epochsOf(h, running)).toEqual([1, 2]);
    expect(startedOf(h, running).at(-1)?.resumedFrom).toEqual({ epoch: 1, step: 1 });
    await h.close();
  }, 600_000);

  it('Ctrl-C of a worker hands its run back after a checkpoint; another worker goes on from it (docs/RELIABILITY.md row 43)', async () => {
    const url = redis.url(4);
    const leaving = await worker(url, 'leaving', { env: { ADJOIN_TEST_HOOKS: '1', ADJOIN_TEST_HOLD_AT_STEP: '4' } });
    const h = host();
    const runId = await h.remote.submit({ queue: url, data: SYNTHETIC, config: tinyConfig() });
    await next(h, heldMidway(runId));
    expect(await leaving.interrupt()).toBe(130);
    expect(leaving.output()).toMatch(/handed back to the queue/);
    expect(h.store.runs.require(runId).status).not.toBe('cancelled');
    await worker(url, 'staying');
    expect(await h.manager.ended(runId)).toEqual({ status: 'finished' });
    expect(h.store.runs.require(runId).worker?.name).toBe('staying');
    expect(epochsOf(h, runId)).toEqual([1, 2]);
    expect(startedOf(h, runId).at(-1)?.resumedFrom).toEqual({ epoch: 1, step: 1 });
    await h.close();
  }, 600_000);

  it('a worker whose dataset copy differs refuses the run with the reason; after three attempts it fails with every error (docs/RELIABILITY.md row 44)', async () => {
    const url = redis.url(5);
    const folder = join(tempDir(), 'shapes');
    for (const [cls, colour] of [
      ['red', [220, 30, 30]],
      ['blue', [30, 30, 220]],
    ] as const) {
      for (let i = 0; i < 6; i++) await png(join(folder, cls, `${i}.png`), 12, 12, [colour[0], colour[1] + i * 10, colour[2]]);
    }
    const h = host();
    const data: DataSource = { path: folder, settings: { size: 12, channels: 1 }, limitTrain: null, limitVal: null };
    const runId = await h.remote.submit({ queue: url, data, config: tinyConfig({}, { classes: 2 }) });
    await onQueue(h, runId);
    // The copy the worker will read is not the one the run was submitted with.
    await png(join(folder, 'red', '0.png'), 12, 12, [10, 200, 10]);
    await worker(url, 'stale');
    expect(await h.manager.ended(runId)).toMatchObject({ status: 'failed' });
    const run = h.store.runs.require(runId);
    expect(run.status).toBe('failed');
    expect(run.error).toMatch(/^failed 3 times: \(1\) attempt 1 on stale: the dataset at .*shapes on this machine is not the one the run was submitted with/);
    expect(run.error!.match(/is not the one the run was submitted with/g)).toHaveLength(3);
    expect(run.error).toMatch(/\(3\) attempt 3 on stale/);
    expect(epochsOf(h, runId)).toEqual([]);
    await h.close();
  }, 600_000);

  it('Redis restarted mid-sweep (append-only file on) loses nothing (docs/RELIABILITY.md row 45)', async () => {
    const own = await startRedis();
    try {
      const url = own.url(0);
      await worker(url, 'steady', { lockSeconds: 30 });
      const h = host();
      const sweepId = h.store.sweeps.create(tinySweep(['standard', 'small', 'an']), { pid: process.pid, host: hostname() }, Date.now(), url);
      const done = runRemoteSweep(h.remote, sweepId);
      await next(h, (e) => e.type === 'run:event' && e.event.type === 'epoch');
      const finishedBefore = h.store.runs.list().filter((r) => r.status === 'finished').length;
      await own.restart();
      expect(await done).toBe('finished');
      expect(finishedBefore).toBeLessThan(3);
      const runs = h.store.runs.list();
      expect(runs).toHaveLength(3);
      for (const run of runs) {
        expect(run.status).toBe('finished');
        expect(epochsOf(h, run.id)).toEqual([1, 2]);
      }
      await h.close();
    } finally {
      await own.stop();
    }
  }, 600_000);

  it('the submitting host closed mid-sweep and opened again picks the sweep up and catches up on its events (docs/RELIABILITY.md row 46)', async () => {
    const url = redis.url(6);
    await worker(url, 'patient');
    const file = join(tempDir(), 'adjoin.db');
    const first = host(file);
    const firstSweeps = new SweepRunner(first.manager, first.remote);
    const sweepId = firstSweeps.start(tinySweep(['standard', 'kd', 'an']), url);
    await next(first, (e) => e.type === 'run:event' && e.event.type === 'finished');
    // Quitting: the sweep and its runs are let go of, not stopped.
    await firstSweeps.stopAll();
    await first.close();

    const second = host(file);
    const secondSweeps = new SweepRunner(second.manager, second.remote);
    const followed = second.remote.followAgain();
    expect(followed.length).toBeGreaterThan(0);
    expect(secondSweeps.followAgain()).toEqual([sweepId]);
    await next(second, (e) => e.type === 'sweeps:changed' && e.sweepId === sweepId && e.status !== 'running');
    const sweep = second.store.sweeps.require(sweepId);
    expect(sweep.status).toBe('finished');
    const runs = second.store.runs.list();
    expect(runs).toHaveLength(3);
    for (const run of runs) {
      expect(run.status).toBe('finished');
      expect(epochsOf(second, run.id)).toEqual([1, 2]);
      expect(existsSync(run.outputs!.network)).toBe(true);
    }
    expect(readdirSync(join(file, '..', 'runs')).sort()).toEqual(runs.map((r) => String(r.id)).sort());
    await second.close();
  }, 600_000);
});
