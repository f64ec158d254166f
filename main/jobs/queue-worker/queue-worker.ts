import { mkdirSync } from 'node:fs';
import { availableParallelism, hostname } from 'node:os';
import { Queue, Worker, type Job } from 'bullmq';
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
  // Runs at once share the cores, as the job manager shares them on a desktop.
  const env =
    baseEnv['ADJOIN_TRAIN_WORKERS'] === undefined ? { ...baseEnv, ADJOIN_TRAIN_WORKERS: String(Math.max(1, Math.floor(cores / o.concurrency))) } : baseEnv;
  const backend = await runOneShot({ kind: 'backend' }, { env, launcher: o.launcher });
  mkdirSync(o.workDir, { recursive: true });

  const identity: WorkerIdentity = { name: o.name, host: hostname() };
  const redis = openRedis(address);
  const files = new RunFiles(redis);
  const running = new Map<string, JobHandle | null>();
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

  let handingBack = false;
  const testHooks = testHooksFrom(baseEnv);
  const connection = lastingOptions(address);
  const queue = new Queue(RUN_QUEUE, { connection, prefix: QUEUE_PREFIX });
  queue.on('error', () => undefined);
  const processJob = async (job: Job, token?: string): Promise<unknown> => {
    if (job.name === JOB_NAMES.release) return processRelease(job, queue, redis);
    running.set(job.id ?? '?', null);
    try {
      return await processRunJob(job, token, {
        worker: identity,
        files,
        redis,
        workDir: o.workDir,
        cacheDir: o.cacheDir,
        env,
        ...(o.launcher === undefined ? {} : { launcher: o.launcher }),
        ...(testHooks === undefined ? {} : { testHooks }),
        handingBack: () => handingBack,
        track: (id, handle) => {
          if (handle === null) return;
          running.set(id, handle);
          if (handingBack) handle.stop('checkpoint-and-stop');
        },
        say: o.say,
      });
    } finally {
      running.delete(job.id ?? '?');
    }
  };
  const worker = new Worker(RUN_QUEUE, processJob, {
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

  let closed: Promise<void> | null = null;
  const close = (): Promise<void> =>
    (closed ??= (async () => {
      await worker.close();
      clearInterval(heartbeat);
      await redis.del(workerKey(o.name)).catch(() => undefined);
      await queue.close();
      redis.disconnect();
    })());
  return {
    address,
    identity,
    backend,
    handBack: async () => {
      handingBack = true;
      for (const handle of running.values()) handle?.stop('checkpoint-and-stop');
      await close();
    },
    close,
  };
}
