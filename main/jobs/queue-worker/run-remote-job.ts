import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { type Job, UnrecoverableError, WaitingError } from 'bullmq';
import type { Redis } from 'ioredis';
import { foundNetworkConfig } from '../../../shared/dan.js';
import { decodeJson, int, obj, record } from '../../../shared/decode.js';
import type { EngineEvent, FailedEvent, FinishedEvent } from '../../../shared/events.js';
import { CHECKPOINT_FILE, RUN_FILES } from '../../../shared/run-files.js';
import { hostJob, type JobHandle, type JobResult } from '../host/job-host.js';
import type { Launcher } from '../host/launcher.js';
import type { JobSpec, TestHooks } from '../job-spec.js';
import { encodeLine, type RemoteLine } from '../queue/job-log.js';
import { stopKey, TEACHER_FILE } from '../queue/layout.js';
import { remoteRunJob, type RemoteRunJob, type RunJobResult, type TravelledFile, type WorkerIdentity } from '../queue/remote-job.js';
import { checkRunPath, type RunFiles } from '../queue/run-files.js';

export interface RunJobContext {
  worker: WorkerIdentity;
  files: RunFiles;
  redis: Redis;
  /** Where this worker keeps the folders of the runs it trains (one per job). */
  workDir: string;
  cacheDir: string;
  /** The job processes' environment. */
  env: NodeJS.ProcessEnv;
  launcher?: Launcher;
  testHooks?: TestHooks;
  /** Whether the worker is handing its runs back to the queue (Ctrl-C). */
  handingBack(): boolean;
  /** The job process of a job, for a hand-back to stop; null when it ends. */
  track(jobId: string, handle: JobHandle | null): void;
  say(line: string): void;
}

/** An error whose text is all BullMQ keeps of an attempt (its "stack"), so each attempt's reason reads as one line. */
function attemptError(message: string, unrecoverable = false): Error {
  const e = unrecoverable ? new UnrecoverableError(message) : new Error(message);
  e.stack = message;
  return e;
}

function hasCheckpoint(dir: string): boolean {
  return existsSync(join(dir, CHECKPOINT_FILE)) || existsSync(join(dir, `${CHECKPOINT_FILE}.prev`));
}

/** How often a running run's worker looks for the submitter's cancel. */
const STOP_CHECK_MS = 1_000;

type RunSpec = Extract<JobSpec, { kind: 'train' | 'search' }>;

/**
 * The job to run for this attempt: from the last checkpoint that travelled
 * back if there is one (a run taken over after its worker died, or handed
 * back); a search whose answer travelled goes on to train what it found.
 */
function plan(data: RemoteRunJob, dir: string, ctx: RunJobContext): { spec: RunSpec; resumed: boolean } {
  const base = {
    data: data.data,
    cacheDir: ctx.cacheDir,
    expectedContentKey: data.contentKey,
    ...(ctx.testHooks === undefined ? {} : { testHooks: ctx.testHooks }),
  };
  if (data.run.kind === 'train') {
    let config = data.run.config;
    if (config.mode === 'kd') {
      const teacher = join(dir, TEACHER_FILE);
      if (!existsSync(teacher)) throw attemptError(`the teacher's network did not travel with run ${data.runId}`, true);
      config = { ...config, kd: { ...config.kd, teacher } };
    }
    const resume = hasCheckpoint(dir);
    return { spec: { kind: 'train', config, outDir: dir, resume, ...base }, resumed: resume };
  }
  const answer = join(dir, 'search', RUN_FILES.search);
  if (data.run.thenTrain !== null && existsSync(answer)) {
    const { alphas } = decodeJson(readFileSync(answer, 'utf8'), obj({ alphas: record(int) }), answer);
    const trainDir = join(dir, 'train');
    const config = foundNetworkConfig(data.run.config, alphas, data.run.thenTrain);
    return { spec: { kind: 'train', config, outDir: trainDir, resume: hasCheckpoint(trainDir), ...base }, resumed: true };
  }
  const resume = hasCheckpoint(join(dir, 'search'));
  return { spec: { kind: 'search', config: data.run.config, thenTrain: data.run.thenTrain, outDir: dir, resume, ...base }, resumed: resume };
}

/** Every file under `dir`, as paths relative to it with `/` separators. */
function filesUnder(dir: string, prefix = ''): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(join(dir, prefix), { withFileTypes: true })) {
    const rel = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
    if (entry.isDirectory()) out.push(...filesUnder(dir, rel));
    else if (entry.isFile()) out.push(rel);
  }
  return out;
}

/** A run's path as it travels: relative to its folder on this worker. */
function travelPath(dir: string, file: string): string {
  return checkRunPath(relative(dir, file).split(sep).join('/'), 'run file');
}

/** The job's log, where the submitter reads everything an attempt says. */
interface JobLog {
  /** Writes one line now, then wakes the submitter. */
  write(line: RemoteLine): Promise<void>;
  /** Queues work that writes lines after all queued before it; a failure is kept for `drain`. */
  later(fn: () => Promise<void>): void;
  /** Waits for the queued work; throws the first failure to write. */
  drain(): Promise<void>;
}

function jobLog(job: Job, attempt: number): JobLog {
  // Lines go out in order, one after another; the first failure to write is kept and thrown at the end.
  let chain: Promise<void> = Promise.resolve();
  let writeError: Error | null = null;
  const write = async (line: RemoteLine): Promise<void> => {
    const n = await job.log(encodeLine(line));
    // Progress only wakes the submitter: it reads the log from where it stopped.
    await job.updateProgress({ attempt, lines: n });
  };
  return {
    write,
    later: (fn) => {
      chain = chain.then(fn).catch((e: unknown) => {
        writeError ??= e instanceof Error ? e : new Error(String(e));
      });
    },
    drain: async () => {
      await chain;
      if (writeError !== null) throw writeError;
    },
  };
}

/** One attempt at a run job on this worker. */
interface Attempt {
  jobId: string;
  data: RemoteRunJob;
  ctx: RunJobContext;
  attempt: number;
  /** Names the attempt in its errors: `attempt 2 on worker-a`. */
  where: string;
  /** The run's folder on this worker. */
  dir: string;
  log: JobLog;
}

/** What the engine said at its end (kept until the outputs have travelled, or thrown as the attempt's error), and whether the submitter cancelled. */
interface AttemptEnd {
  finished: FinishedEvent | null;
  failure: FailedEvent | null;
  cancelling: boolean;
}

/** The job's id and its run, decoded; a job this worker cannot read fails for good. */
function readRunJob(job: Job): { jobId: string; data: RemoteRunJob } {
  const jobId = job.id;
  if (jobId === undefined) throw attemptError('a run job without an id', true);
  try {
    return { jobId, data: remoteRunJob(job.data, `job ${jobId}`) };
  } catch (e) {
    throw attemptError(`job ${jobId} is not a run this worker can read (${(e as Error).message}); is it from a newer Adjoin?`, true);
  }
}

/** Makes the run's folder afresh from the files that travelled with the job (its teacher, an earlier attempt's checkpoint). */
async function fetchTravelledFiles(ctx: RunJobContext, jobId: string, dir: string): Promise<void> {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  for (const path of await ctx.files.list(jobId)) {
    const bytes = await ctx.files.get(jobId, path);
    if (bytes === null) continue;
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), bytes);
  }
}

/** Whether the submitter asked to cancel the run. */
async function stopAsked(a: Attempt): Promise<boolean> {
  return (await a.ctx.redis.exists(stopKey(a.jobId))) === 1;
}

/** Writes each engine event to the job's log, after the files it names have travelled; the run's end is kept in `end`. */
function forwardEvents(a: Attempt, spec: RunSpec, end: AttemptEnd): (event: EngineEvent) => void {
  const { ctx, data, attempt, log } = a;
  const send = (event: EngineEvent): void => log.later(() => log.write({ kind: 'event', attempt, event }));
  return (event) => {
    switch (event.type) {
      case 'checkpoint':
        // The checkpoint travels before the line that names it: a worker that dies after it lets another resume from it.
        log.later(async () => {
          const bytes = readFileSync(event.path);
          if (bytes.length <= data.transferLimitBytes) await ctx.files.put(a.jobId, travelPath(a.dir, event.path), bytes);
          await log.write({ kind: 'event', attempt, event });
        });
        break;
      case 'search-result':
        log.later(async () => {
          // The search's answer travels too: a run taken over after it trains what was found.
          const answer = join(spec.outDir, 'search', RUN_FILES.search);
          if (existsSync(answer)) await ctx.files.put(a.jobId, travelPath(a.dir, answer), readFileSync(answer));
          await log.write({ kind: 'event', attempt, event });
        });
        break;
      case 'finished':
        end.finished = event;
        break;
      case 'failed':
        // The attempt's error goes to BullMQ (thrown at the attempt's end), which retries the run or fails it for good.
        end.failure = event;
        break;
      case 'cancelled':
        // A hand-back is not the end of the run: another worker goes on from the checkpoint.
        if (end.cancelling || !ctx.handingBack()) send(event);
        break;
      case 'started':
      case 'search-started':
        ctx.say(`run ${data.runId} of ${data.submitter}: ${event.resumedFrom === null ? 'started' : `resumed at epoch ${event.resumedFrom.epoch + 1}`}`);
        send(event);
        break;
      default:
        send(event);
    }
  };
}

/** Runs the job in a job process of its own, as any host does, stopping it when the submitter cancels. */
async function runInJobProcess(a: Attempt, spec: RunSpec, end: AttemptEnd): Promise<JobResult> {
  const { ctx, log } = a;
  const handle: JobHandle = hostJob(spec, {
    env: ctx.env,
    ...(ctx.launcher === undefined ? {} : { launcher: ctx.launcher }),
    onEvent: forwardEvents(a, spec, end),
    onDataset: (dataset) => log.later(() => log.write({ kind: 'dataset', attempt: a.attempt, dataset })),
  });
  ctx.track(a.jobId, handle);
  // The submitter's cancel: looked for every second, so the engine stops after the step it arrives in.
  const watch = setInterval(() => {
    log.later(async () => {
      if (end.cancelling || !(await stopAsked(a))) return;
      end.cancelling = true;
      handle.stop('cancel');
    });
  }, STOP_CHECK_MS);
  try {
    return await handle.done;
  } finally {
    clearInterval(watch);
    ctx.track(a.jobId, null);
  }
}

/** Sends the outputs back, then the `finished` line; the folder goes unless a checkpoint too big to travel stays in it. */
async function finishRun(a: Attempt, end: AttemptEnd): Promise<RunJobResult> {
  const { ctx, data, dir } = a;
  const event = end.finished;
  if (event === null) throw attemptError(`${a.where}: the run ended without its results`);
  const sent = await sendOutputs(a.jobId, dir, data, ctx);
  await a.log.write({ kind: 'event', attempt: a.attempt, event });
  ctx.say(`run ${data.runId} of ${data.submitter}: finished; ${sent.files.length} files sent back`);
  // Everything has travelled; a checkpoint too big to travel stays, and says where.
  if (sent.withheld.length === 0) rmSync(dir, { recursive: true, force: true });
  else ctx.say(`run ${data.runId}: ${sent.withheld.map((f) => f.path).join(', ')} stayed in ${dir} (over the size limit)`);
  return { status: 'finished', ...sent };
}

/** Turns how the job process ended into the attempt's result, or the error BullMQ records for it. */
async function settleAttempt(a: Attempt, result: JobResult, end: AttemptEnd): Promise<RunJobResult> {
  const { ctx, data, where } = a;
  switch (result.status) {
    case 'finished':
      return finishRun(a, end);
    case 'cancelled':
      ctx.say(`run ${data.runId} of ${data.submitter}: cancelled`);
      rmSync(a.dir, { recursive: true, force: true });
      return { status: 'cancelled', files: [], withheld: [] };
    case 'failed': {
      const f = end.failure;
      const reason = f?.reason ?? result.reason;
      // The same seed and data give the same NaN: trying again would only repeat it.
      throw attemptError(`${where}: ${reason === 'nan_loss' ? 'nan_loss: ' : ''}${f?.error.message ?? result.message}`, reason === 'nan_loss');
    }
    case 'error':
      throw attemptError(`${where}: ${result.error.message}`);
    case 'crashed':
      throw attemptError(`${where}: ${result.message}`);
  }
}

/**
 * Trains one run job: fetches what travelled with it (its teacher, the last
 * checkpoint of an earlier attempt), runs it in a job process of its own as
 * any host does, and tells the submitter everything through the job's log —
 * each checkpoint after it has travelled, `finished` after the outputs have.
 * A run that fails throws, so BullMQ retries it (a NaN loss, which would
 * recur, fails it at once); a hand-back puts it back on the queue.
 */
export async function processRunJob(job: Job, token: string | undefined, ctx: RunJobContext): Promise<RunJobResult> {
  const { jobId, data } = readRunJob(job);
  const attempt = Math.max(1, job.attemptsStarted);
  const a: Attempt = { jobId, data, ctx, attempt, where: `attempt ${attempt} on ${ctx.worker.name}`, dir: join(ctx.workDir, jobId), log: jobLog(job, attempt) };
  await fetchTravelledFiles(ctx, jobId, a.dir);
  if (await stopAsked(a)) {
    // Cancelled while it waited: nothing to train.
    await a.log.write({ kind: 'event', attempt, event: { type: 'cancelled', time: Date.now(), epoch: 0, step: 0, checkpoint: null } });
    return { status: 'cancelled', files: [], withheld: [] };
  }
  const { spec, resumed } = plan(data, a.dir, ctx);
  await a.log.write({ kind: 'attempt', attempt, worker: ctx.worker, dir: a.dir, resumed });
  const end: AttemptEnd = { finished: null, failure: null, cancelling: false };
  const result = await runInJobProcess(a, spec, end);
  await a.log.drain();
  if (ctx.handingBack() && !end.cancelling && result.status !== 'finished') {
    await a.log.write({ kind: 'handed-back', attempt, worker: ctx.worker });
    ctx.say(`run ${data.runId} of ${data.submitter}: handed back to the queue`);
    await job.moveToWait(token);
    throw new WaitingError();
  }
  return settleAttempt(a, result, end);
}

/**
 * Sends a finished run's files back: every output, and checkpoints up to
 * the size limit; a standard run's network also goes to each kd run it
 * teaches, before any of them can start.
 */
async function sendOutputs(jobId: string, dir: string, data: RemoteRunJob, ctx: RunJobContext): Promise<Pick<RunJobResult, 'files' | 'withheld'>> {
  const files: TravelledFile[] = [];
  const withheld: TravelledFile[] = [];
  for (const path of filesUnder(dir)) {
    if (path === TEACHER_FILE || path.endsWith('.tmp') || path.endsWith('.prev')) continue;
    const full = join(dir, path);
    const bytes = statSync(full).size;
    if (path.endsWith('.ckpt') && bytes > data.transferLimitBytes) {
      withheld.push({ path, bytes });
      continue;
    }
    await ctx.files.put(jobId, checkRunPath(path, 'run file'), readFileSync(full));
    files.push({ path, bytes });
  }
  if (data.students.length > 0) {
    const network = readFileSync(join(dir, RUN_FILES.network));
    for (const student of data.students) await ctx.files.put(student, TEACHER_FILE, network);
  }
  return { files, withheld };
}
