import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'bullmq';
import type { DataSource } from '../../shared/api.js';
import type { StepEvent } from '../../shared/events.js';
import { DEFAULT_LOSS, recipe, trainConfigOf, type TrainConfig } from '../../shared/train-config.js';
import { JobManager } from '../../main/jobs/host/manager.js';
import { RemoteRuns } from '../../main/jobs/host/queue/remote-runs.js';
import { encodeLine } from '../../main/jobs/queue/job-log.js';
import { QUEUE_PREFIX, RUN_QUEUE } from '../../main/jobs/queue/layout.js';
import { packageRoot } from '../../main/package-root.js';
import { openStore } from '../../main/store/open.js';
import { HAS_REDIS, startRedis } from '../helpers/redis.js';
import { startWorker } from '../helpers/queue-workers.js';
import { median, round } from './measure.js';

const TINY: DataSource = { path: 'synthetic:classes=3,size=12,train=48,val=24', settings: {}, limitTrain: null, limitVal: null };

function tinyConfig(seed: number): TrainConfig {
  return trainConfigOf(
    {
      model: { arch: 'resnet18', stem: 'cifar', inputSize: 12, channels: 1, classes: 3, width: 0.125, compressFirstStage: false },
      epochs: 1,
      batchSize: 16,
      ...recipe('cifar'),
      loss: DEFAULT_LOSS,
      seed,
      checkpointEvery: 1,
    },
    'an',
    2,
    null,
  );
}

/** A submitting host on a history of its own. */
function host(dir: string): { manager: JobManager; remote: RemoteRuns; close: () => Promise<void> } {
  const store = openStore(join(dir, 'adjoin.db'));
  const manager = new JobManager(store, { runsDir: join(dir, 'runs'), cacheDir: join(dir, 'cache') });
  const remote = new RemoteRuns(manager, { runsDir: join(dir, 'runs'), cacheDir: join(dir, 'cache') });
  return {
    manager,
    remote,
    close: async () => {
      await manager.stopAll();
      store.close();
    },
  };
}

/**
 * From submitting a tiny run to its `started` event in the history (the
 * worker's job process has loaded the engine and opened the data), and to
 * the moment a worker took the job (BullMQ's own timestamps).
 */
async function dispatch(url: string, dir: string, runs: number): Promise<{ start: number[]; pickup: number[] }> {
  const h = host(dir);
  const start: number[] = [];
  const pickup: number[] = [];
  const link = await h.remote.link(url);
  // The content key is read here once: what is timed is the queue and the worker, not this machine's import.
  const dataset = await h.remote.openData(TINY);
  for (let i = 0; i < runs; i++) {
    const t0 = Date.now();
    const started = new Promise<number>((resolve) => {
      const off = h.manager.subscribe((e) => {
        if (e.type === 'run:event' && e.event.type === 'started') {
          off();
          resolve(Date.now());
        }
      });
    });
    const runId = await h.remote.submit({ queue: url, data: TINY, config: tinyConfig(i), dataset });
    start.push((await started) - t0);
    const job = await link.queue.getJob(h.manager.store.queueRuns.get(runId)?.jobId ?? '');
    if (job?.processedOn !== undefined) pickup.push(job.processedOn - job.timestamp);
    await h.manager.ended(runId);
  }
  await h.close();
  return { start, pickup };
}

/**
 * How fast the submitter relays a worker's lines into the history: a job
 * whose log already holds `lines` step events (as a worker writes them) is
 * followed from its first line to its last.
 */
async function relay(url: string, dir: string, lines: number): Promise<number> {
  const h = host(dir);
  const runId = h.remote.createRun({
    queue: url,
    data: TINY,
    config: tinyConfig(0),
    dataset: { path: TINY.path, contentKey: 'bench', name: 'synthetic', summary: {}, split: { limitTrain: null, limitVal: null, settings: {} } },
  });
  const step = (i: number): StepEvent => ({
    type: 'step',
    time: Date.now(),
    epoch: 1,
    step: i + 1,
    stepsPerEpoch: lines,
    globalStep: i + 1,
    totalSteps: lines,
    progress: i / lines,
    loss: 1,
    ce: 1,
    lambda: 0.5,
    lr: 0.1,
    imagesPerSecond: 100,
    etaSeconds: 1,
    kl: 0.1,
    smallCe: 1,
  });
  let written = 0;
  let relayed = 0;
  let first = 0;
  const done = new Promise<number>((resolve) => {
    h.manager.subscribe((e) => {
      if (e.type !== 'run:event' || e.event.type !== 'step') return;
      relayed += 1;
      if (relayed === lines) resolve(performance.now());
    });
  });
  const fake = new Worker(
    RUN_QUEUE,
    async (job) => {
      await job.log(encodeLine({ kind: 'attempt', attempt: 1, worker: { name: 'bench', host: hostname() }, dir: '/bench', resumed: false }));
      for (let i = 0; i < lines; i++) {
        await job.log(encodeLine({ kind: 'event', attempt: 1, event: step(i) }));
        written += 1;
      }
      first = performance.now();
      await job.updateProgress({ lines: written });
      return { status: 'cancelled', files: [], withheld: [] };
    },
    { connection: { url, maxRetriesPerRequest: null }, prefix: QUEUE_PREFIX },
  );
  await h.remote.enqueue(runId, false);
  const last = await done;
  await fake.close();
  await h.close();
  return lines / ((last - first) / 1000);
}

/** Wall time of one CLI sweep, in seconds. */
function sweep(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [join(packageRoot(), 'bin', 'adjoin.js'), 'sweep', ...args], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (code) => (code === 0 ? resolve((performance.now() - t0) / 1000) : reject(new Error(`adjoin sweep exited ${code}: ${err.slice(-800)}`))));
  });
}

/**
 * `npm run bench -- queue --json`: a loopback redis-server, `adjoin worker`
 * processes and the CLI as a person runs them.
 *   dispatch_latency_ms — submit to `started` in the history, median of tiny runs (job process start, engine load and data open included);
 *   pickup_latency_ms — from BullMQ's added to a worker taking the job;
 *   events_per_s — worker lines relayed into the history per second;
 *   overhead_ratio — a sweep on 2 local workers over `adjoin sweep --parallel 2` on the same cells (target ≤ 1.05).
 */
export async function queueBench(args: { rounds?: number }): Promise<Record<string, unknown>> {
  if (!HAS_REDIS) return { benchmark: 'queue', error: 'redis-server is not installed (apt-get install redis-server)' };
  const rounds = args.rounds ?? 1;
  const root = mkdtempSync(join(tmpdir(), 'adjoin-bench-queue-'));
  const redis = await startRedis();
  const env = { ...process.env, ADJOIN_HOME: join(root, 'home'), ADJOIN_CACHE_DIR: join(root, 'cache'), ADJOIN_BACKEND: 'wasm', ADJOIN_TRAIN_WORKERS: '1' };
  const workers = [];
  try {
    workers.push(await startWorker(redis.url(0), 'bench-a', { env, lockSeconds: 30 }), await startWorker(redis.url(0), 'bench-b', { env, lockSeconds: 30 }));
    const d = await dispatch(redis.url(0), join(root, 'dispatch'), 5);
    const eventsPerSecond = await relay(redis.url(1), join(root, 'relay'), 2_000);

    // The same grid both ways: 8 runs of a small ResNet-18, two at a time, one engine each.
    const grid = ['--data', 'synthetic:classes=4,size=16,train=512,val=128', '--arch', 'resnet18', '--width', '0.125', '--epochs', '2', '--batch', '32'];
    const cells = [...grid, '--modes', 'standard,small,kd,an', '--alpha', '2', '--seeds', '0,1'];
    const local: number[] = [];
    const queued: number[] = [];
    for (let r = 0; r < rounds; r++) {
      local.push(await sweep([...cells, '--parallel', '2', '--workers', '1', '--db', join(root, `local-${r}.db`)], env));
      queued.push(await sweep([...cells, '--queue', redis.url(0), '--db', join(root, `queue-${r}.db`)], env));
    }
    const ratio = median(queued) / median(local);
    return {
      benchmark: 'queue',
      dispatch_latency_ms: round(median(d.start), 0),
      pickup_latency_ms: d.pickup.length === 0 ? null : round(median(d.pickup), 0),
      events_per_s: round(eventsPerSecond, 0),
      overhead_ratio: round(ratio, 3),
      target_overhead_ratio: 1.05,
      sweep_seconds: { local_parallel_2: local.map((s) => round(s, 1)), queue_2_workers: queued.map((s) => round(s, 1)) },
      sweep: '8 runs: resnet18 width 0.125, synthetic 4 classes 16×16, 512 train images, 2 epochs, batch 32; modes standard, small, kd, an, α 2, seeds 0 and 1',
      redis: 'loopback redis-server with an append-only file',
    };
  } finally {
    for (const w of workers) await w.interrupt();
    await redis.stop();
    rmSync(root, { recursive: true, force: true });
  }
}
