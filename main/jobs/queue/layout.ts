/**
 * Where a run queue keeps things in Redis: every key starts with
 * `adjoin:` — BullMQ's own (`adjoin:runs:…`, its prefix) and the few Adjoin
 * adds beside them — so a queue can share a Redis server with other work.
 */
export const QUEUE_PREFIX = 'adjoin';

/** The BullMQ queue every run job goes through. */
export const RUN_QUEUE = 'runs';

/** BullMQ job names: a run, and the job that releases a teacher's kd students once it has finished. */
export const JOB_NAMES = { run: 'run', release: 'release' } as const;

/** How many times a run may fail before it is failed for good (each attempt's error is kept). */
export const RUN_ATTEMPTS = 3;

/** Retries wait 2 s, then 4 s: long enough for a passing fault (a full disk being cleared) to go. */
export const RETRY_BACKOFF = { type: 'exponential', delay: 2_000 } as const;

/** How many times a run may lose its worker (killed, power cut) and be taken over by another. */
export const MAX_STALLS = 2;

/** A worker that stops renewing its lock for this long is taken to be dead, by default. */
export const DEFAULT_LOCK_SECONDS = 30;

/** A worker's announcement, refreshed while it lives. */
export const workerKey = (name: string): string => `${QUEUE_PREFIX}:workers:${name}`;
export const WORKER_KEYS = `${QUEUE_PREFIX}:workers:*`;

/** The files of a run that travel (checkpoints every epoch, the outputs at the end, a kd run's teacher): one hash field per file. */
export const filesKey = (jobId: string): string => `${QUEUE_PREFIX}:files:${jobId}`;

/** Set when the submitter asks a run to stop: its worker stops it after the current step. */
export const stopKey = (jobId: string): string => `${QUEUE_PREFIX}:stop:${jobId}`;

/** A run's checkpoints travel up to this size by default (outputs always travel). */
export const DEFAULT_TRANSFER_LIMIT_BYTES = 256 * 1024 * 1024;

/** How often a worker refreshes its announcement; it lapses after three missed beats. */
export const ANNOUNCE_MS = 5_000;

/** A kd run's teacher network, as it travels with the run and lies in its folder on the worker. */
export const TEACHER_FILE = 'teacher.adjoin';

/**
 * How every run job is added: its own id (adding it again is a no-op), three
 * attempts with backoff, and kept in Redis once done until the submitter has
 * stored what it returned (the submitter removes it).
 */
export function runJobOptions(jobId: string): { jobId: string; attempts: number; backoff: typeof RETRY_BACKOFF; removeOnComplete: false; removeOnFail: false } {
  return { jobId, attempts: RUN_ATTEMPTS, backoff: RETRY_BACKOFF, removeOnComplete: false, removeOnFail: false };
}
