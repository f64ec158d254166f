import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EpochEvent } from '../../../shared/events.js';
import type { DatasetInput } from '../../../shared/history.js';
import { JobManager } from '../../../main/jobs/host/manager.js';
import { RemoteRuns } from '../../../main/jobs/host/queue/remote-runs.js';
import { filesKey, QUEUE_PREFIX, RUN_QUEUE } from '../../../main/jobs/queue/layout.js';
import { openStore } from '../../../main/store/open.js';
import { HAS_REDIS, startRedis, type RedisServer } from '../../helpers/redis.js';
import { tempDirs, tinyConfig } from '../../helpers/store.js';

const tempDir = tempDirs('adjoin-queue-hostile-');
const DATA = { path: 'synthetic:classes=3,size=12,train=48,val=24', settings: {}, limitTrain: null, limitVal: null };
const DATASET: DatasetInput = { path: DATA.path, contentKey: 'key', name: 'synthetic', summary: {}, split: { limitTrain: null, limitVal: null, settings: {} } };

const epoch: EpochEvent = {
  type: 'epoch',
  time: 1,
  epoch: 1,
  epochs: 2,
  trainLoss: 1,
  trainAccuracy: { full: 0.5, small: 0.5 },
  val: { full: { accuracy: 0.5, loss: 1 }, small: { accuracy: 0.5, loss: 1 } },
  lambda: 1,
  lr: 0.1,
  seconds: 1,
};

describe.skipIf(!HAS_REDIS)('what a worker writes on the queue is checked before the history trusts it', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it('refuses paths outside the run folder and lines it cannot read, ignores an older attempt, and fails the run saying why (docs/RELIABILITY.md row 47)', async () => {
    const url = redis.url(0);
    const dir = tempDir();
    const store = openStore(join(dir, 'adjoin.db'));
    const manager = new JobManager(store, { runsDir: join(dir, 'runs'), cacheDir: join(dir, 'cache') });
    const warnings: string[] = [];
    const remote = new RemoteRuns(manager, { runsDir: join(dir, 'runs'), cacheDir: join(dir, 'cache'), onWarning: (m) => warnings.push(m) });
    const runId = remote.createRun({ queue: url, data: DATA, config: tinyConfig(), dataset: DATASET });
    await remote.enqueue(runId, false);

    // A "worker" that speaks the protocol with hostile content.
    const client = new Redis(url);
    const line = (v: unknown): string => JSON.stringify(v);
    const evil = new Worker(
      RUN_QUEUE,
      async (job) => {
        await job.log(line({ kind: 'attempt', attempt: 2, worker: { name: 'evil', host: 'nowhere' }, dir: '/w/run', resumed: false }));
        await job.log(line({ kind: 'event', attempt: 1, event: epoch }));
        await job.log(line({ kind: 'event', attempt: 2, event: { type: 'checkpoint', time: 2, epoch: 1, step: 0, path: '/w/run/../../etc/evil' } }));
        await job.log(line({ kind: 'event', attempt: 2, event: { type: 'checkpoint', time: 2, epoch: 1, step: 0, path: '/elsewhere/checkpoint.ckpt' } }));
        await job.log('not json at all');
        await job.log(line({ kind: 'rm -rf', attempt: 2 }));
        await client.hset(filesKey(job.id!), '../escape.txt', 'x');
        await job.log(
          line({
            kind: 'event',
            attempt: 2,
            event: {
              type: 'finished',
              time: 3,
              epochs: 2,
              val: { full: null, small: null },
              confusion: [],
              seconds: 1,
              outputs: { network: '/w/run/network.adjoin', small: null, summary: '/w/run/run.json' },
            },
          }),
        );
        await job.updateProgress(1);
        return { status: 'finished', files: [], withheld: [] };
      },
      { connection: { url, maxRetriesPerRequest: null }, prefix: QUEUE_PREFIX },
    );
    const result = await manager.ended(runId);
    await evil.close();
    client.disconnect();

    expect(result).toMatchObject({ status: 'failed' });
    const run = store.runs.require(runId);
    expect(run.status).toBe('failed');
    expect(run.error).toMatch(/the worker finished the run, but its results could not be stored here: .*not a path inside a run's folder/);
    expect(run.worker).toEqual({ name: 'evil', host: 'nowhere' });
    expect(run.checkpointPath).toBeNull();
    // The late line of attempt 1 was ignored.
    expect(store.metrics.epochs(runId)).toEqual([]);
    expect(warnings.some((w) => /outside its run folder/.test(w))).toBe(true);
    expect(warnings.some((w) => /skipped a line the worker wrote: .*valid JSON/.test(w))).toBe(true);
    expect(warnings.some((w) => /skipped a line the worker wrote: .*kind/.test(w))).toBe(true);
    // Nothing was written outside the run's folder.
    expect(existsSync(join(dir, 'runs', 'escape.txt'))).toBe(false);
    expect(existsSync(join(dir, 'escape.txt'))).toBe(false);
    await manager.stopAll();
    store.close();
  }, 120_000);
});
