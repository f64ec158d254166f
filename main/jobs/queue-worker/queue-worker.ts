import { mkdirSync } from 'node:fs';
import { availableParallelism, hostname } from 'node:os';
import { Queue, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { BackendInfo } from '../../../shared/backend.js';
import type { QueueAddress } from '../../../shared/queue-url.js';
import type { JobHandle } from '../host/job-host.js';
import type { Launcher } from '../host/launcher.js';
import { runOneShot } from '../host/one-shot.js';
import type { TestHooks } from '../job-spec.js';
import { checkQueue, lastingOptions, openRedis } from '../queue/connect.js';
import { ANNOUNCE_MS, JOB_NAMES, MAX_STALLS, QUEUE_PREFIX, RUN_QUEUE, workerKey } from '../queue/layout.js';
import type { WorkerAnnouncement, WorkerIdentity } from '../queue/remote-job.js';
import { RunFiles } from '../queue/run-files.js';
import { processRelease } from './release.js';
import { processRunJob } from './run-remote-job.js';

export interface QueueWorkerOptions {
  url: string;
  /** Runs trained at once (they share the cores). */
  concurrency: number;
  name: string;
  /** Where run folders are kept while they train. */
  workDir: string;
  cacheDir: string;
  /** A worker that stops renewing its lock for this long is taken to be dead, and its run goes to another. */
  lockSeconds: number;
  env?: NodeJS.ProcessEnv;
  launcher?: Launcher;
  /** One line for the worker's own output. */
  say: (line: string) => void;
}

export interface QueueWorker {
  readonly address: QueueAddress;
  readonly identity: WorkerIdentity;
  readonly backend: BackendInfo;
  /** Ctrl-C: running runs checkpoint after their step and go back on the queue; then the worker stops. */
  handBack(): Promise<void>;
  /** Stops taking runs, waits for the running ones, and says goodbye. */
  close(): Promise<void>;
}

/** Test hooks from the worker's environment (honoured only under ADJOIN_TEST_HOOKS=1). */
function testHooksFrom(env: NodeJS.ProcessEnv): TestHooks | undefined {
  if (env['ADJOIN_TEST_HOOKS'] !== '1') return undefined;
  const hold = Number(env['ADJOIN_TEST_HOLD_AT_STEP'] ?? NaN);
  return Number.isInteger(hold) ? { holdAtStep: hold } : undefined;
}

/** The job processes' environment: runs at once share the cores, as the job manager shares them on a desktop. */
function jobEnv(baseEnv: NodeJS.ProcessEnv, cores: number, concurrency: number): NodeJS.ProcessEnv {
  if (baseEnv['ADJOIN_TRAIN_WORKERS'] !== undefined) return baseEnv;
  return { ...baseEnv, ADJOIN_TRAIN_WORKERS: String(Math.max(1, Math.floor(cores / concurrency))) };
}

/** What every part of a running worker shares. */
interface WorkerState {
  o: QueueWorkerOptions;
  identity: WorkerIdentity;
  env: NodeJS.ProcessEnv;
  redis: Redis;
  files: RunFiles;
  queue: Queue;
  /** The runs being trained, by job id, with their job process once it has started. */
  running: Map<string, JobHandle | null>;
  testHooks: TestHooks | undefined;
  handingBack: boolean;
}

/**
 * Announces the worker in Redis (what the submitters' Run on list shows) and
 * renews it while it lives; the announcement expires when the renewals stop.
 * Returns the stop of the renewals.
 */
async function keepAnnounced(
  o: QueueWorkerOptions,
  redis: Redis,
  identity: WorkerIdentity,
  machine: { backend: BackendInfo; cores: number },
  running: ReadonlyMap<string, JobHandle | null>,
): Promise<() => void> {
  const { backend, cores } = machine;
  const startedAt = Date.now();
  const announcement = (): WorkerAnnouncement => ({
    ...identity,
    pid: process.pid,
    backend,
    cores,
    concurrency: o.concurrency,
    startedAt,
    heartbeatAt: Date.now(),
    jobs: [...running.keys()],
  });
  const announce = (): Promise<unknown> => redis.set(workerKey(o.name), JSON.stringify(announcement()), 'PX', 3 * ANNOUNCE_MS);
  await announce();
  const heartbeat = setInterval(() => void announce().catch(() => undefined), ANNOUNCE_MS);
  return () => clearInterval(heartbeat);
}

/** Processes one job from the queue: a kd flow's release, or a run to train (tracked while it runs, so a hand-back can stop it). */
async function processJob(w: WorkerState, job: Job, token?: string): Promise<unknown> {
  if (job.name === JOB_NAMES.release) return processRelease(job, w.queue, w.redis);
  const { o, running } = w;
  running.set(job.id ?? '?', null);
  try {
    return await processRunJob(job, token, {
      worker: w.identity,
      files: w.files,
      redis: w.redis,
      workDir: o.workDir,
      cacheDir: o.cacheDir,
      env: w.env,
      ...(o.launcher === undefined ? {} : { launcher: o.launcher }),
      ...(w.testHooks === undefined ? {} : { testHooks: w.testHooks }),
      handingBack: () => w.handingBack,
      track: (id, handle) => {
        if (handle === null) return;
        running.set(id, handle);
        if (w.handingBack) handle.stop('checkpoint-and-stop');
      },
      say: o.say,
    });
  } finally {
    running.delete(job.id ?? '?');
  }
}

/** The BullMQ worker, ready: a worker whose lock lapses for `lockSeconds` is taken to be dead and its run goes to another. */
async function openBullWorker(w: WorkerState, connection: ReturnType<typeof lastingOptions>): Promise<Worker> {
  const { o } = w;
  const worker = new Worker(RUN_QUEUE, (job: Job, token?: string) => processJob(w, job, token), {
    connection,
    prefix: QUEUE_PREFIX,
    concurrency: o.concurrency,
    name: o.name,
    lockDuration: o.lockSeconds * 1_000,
    stalledInterval: o.lockSeconds * 1_000,
    maxStalledCount: MAX_STALLS,
  });
  worker.on('error', (e) => o.say(`warning: ${e.message}`));
  worker.on('failed', (job, e) => {
    if (job !== undefined && e.name !== 'WaitingError') o.say(`run job ${job.id}: attempt failed: ${e.message}`);
  });
  await worker.waitUntilReady();
  return worker;
}

/**
 * `adjoin worker`: a host without a history. It takes run jobs from the
 * queue and trains each in a job process of its own (the same engine and
 * job process as on the submitting machine), announces itself and renews
 * the announcement while it lives; BullMQ's lock on each job is what tells
 * the other workers it is alive.
 */
export async function startQueueWorker(o: QueueWorkerOptions): Promise<QueueWorker> {
  const { address, server } = await checkQueue(o.url);
  if (server.appendOnly === false) {
    o.say(`warning: ${address.shown} keeps no append-only file; if Redis restarts, queued runs are lost (start it with --appendonly yes)`);
  }
  const baseEnv = o.env ?? process.env;
  const cores = availableParallelism();
  const env = jobEnv(baseEnv, cores, o.concurrency);
  const backend = await runOneShot({ kind: 'backend' }, { env, launcher: o.launcher });
  mkdirSync(o.workDir, { recursive: true });

  const identity: WorkerIdentity = { name: o.name, host: hostname() };
  const redis = openRedis(address);
  const files = new RunFiles(redis);
  const running = new Map<string, JobHandle | null>();
  const stopAnnouncing = await keepAnnounced(o, redis, identity, { backend, cores }, running);
  const connection = lastingOptions(address);
  const queue = new Queue(RUN_QUEUE, { connection, prefix: QUEUE_PREFIX });
  queue.on('error', () => undefined);
  const w: WorkerState = { o, identity, env, redis, files, queue, running, testHooks: testHooksFrom(baseEnv), handingBack: false };
  const worker = await openBullWorker(w, connection);

  let closed: Promise<void> | null = null;
  const close = (): Promise<void> =>
    (closed ??= (async () => {
      await worker.close();
      stopAnnouncing();
      await redis.del(workerKey(o.name)).catch(() => undefined);
      await queue.close();
      redis.disconnect();
    })());
  return {
    address,
    identity,
    backend,
    handBack: async () => {
      w.handingBack = true;
      for (const handle of running.values()) handle?.stop('checkpoint-and-stop');
      await close();
    },
    close,
  };
}
