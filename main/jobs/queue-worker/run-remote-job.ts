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

/**
 * Trains one run job: fetches what travelled with it (its teacher, the last
 * checkpoint of an earlier attempt), runs it in a job process of its own as
 * any host does, and tells the submitter everything through the job's log —
 * each checkpoint after it has travelled, `finished` after the outputs have.
 * A run that fails throws, so BullMQ retries it (a NaN loss, which would
 * recur, fails it at once); a hand-back puts it back on the queue.
 */
export async function processRunJob(job: Job, token: string | undefined, ctx: RunJobContext): Promise<RunJobResult> {
  const jobId = job.id;
  if (jobId === undefined) throw attemptError('a run job without an id', true);
  let data: RemoteRunJob;
  try {
    data = remoteRunJob(job.data, `job ${jobId}`);
  } catch (e) {
    throw attemptError(`job ${jobId} is not a run this worker can read (${(e as Error).message}); is it from a newer Adjoin?`, true);
  }
  const attempt = Math.max(1, job.attemptsStarted);
  const where = `attempt ${attempt} on ${ctx.worker.name}`;
  const dir = join(ctx.workDir, jobId);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  for (const path of await ctx.files.list(jobId)) {
    const bytes = await ctx.files.get(jobId, path);
    if (bytes === null) continue;
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), bytes);
  }

  // Lines go out in order, one after another; the first failure to write is kept and thrown at the end.
  let chain: Promise<void> = Promise.resolve();
  let writeError: Error | null = null;
  const later = (fn: () => Promise<void>): void => {
    chain = chain.then(fn).catch((e: unknown) => {
      writeError ??= e instanceof Error ? e : new Error(String(e));
    });
  };
  const write = async (line: RemoteLine): Promise<void> => {
    const n = await job.log(encodeLine(line));
    // Progress only wakes the submitter: it reads the log from where it stopped.
    await job.updateProgress({ attempt, lines: n });
  };
  const stopAsked = async (): Promise<boolean> => (await ctx.redis.exists(stopKey(jobId))) === 1;

  if (await stopAsked()) {
    // Cancelled while it waited: nothing to train.
    await write({ kind: 'event', attempt, event: { type: 'cancelled', time: Date.now(), epoch: 0, step: 0, checkpoint: null } });
    return { status: 'cancelled', files: [], withheld: [] };
  }
  const { spec, resumed } = plan(data, dir, ctx);
  await write({ kind: 'attempt', attempt, worker: ctx.worker, dir, resumed });

  // What the engine said at its end: kept until the outputs have travelled, or thrown as the attempt's error.
  const end: { finished: FinishedEvent | null; failure: FailedEvent | null } = { finished: null, failure: null };
  let cancelling = false;
  const send = (event: EngineEvent): void => later(() => write({ kind: 'event', attempt, event }));
  const onEvent = (event: EngineEvent): void => {
    switch (event.type) {
      case 'checkpoint':
        // The checkpoint travels before the line that names it: a worker that dies after it lets another resume from it.
        later(async () => {
          const bytes = readFileSync(event.path);
          if (bytes.length <= data.transferLimitBytes) await ctx.files.put(jobId, travelPath(dir, event.path), bytes);
          await write({ kind: 'event', attempt, event });
        });
        break;
      case 'search-result':
        later(async () => {
          // The search's answer travels too: a run taken over after it trains what was found.
          const answer = join(spec.outDir, 'search', RUN_FILES.search);
          if (existsSync(answer)) await ctx.files.put(jobId, travelPath(dir, answer), readFileSync(answer));
          await write({ kind: 'event', attempt, event });
        });
        break;
      case 'finished':
        end.finished = event;
        break;
      case 'failed':
        // The attempt's error goes to BullMQ (thrown below), which retries the run or fails it for good.
        end.failure = event;
        break;
      case 'cancelled':
        // A hand-back is not the end of the run: another worker goes on from the checkpoint.
        if (cancelling || !ctx.handingBack()) send(event);
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
  const handle: JobHandle = hostJob(spec, {
    env: ctx.env,
    ...(ctx.launcher === undefined ? {} : { launcher: ctx.launcher }),
    onEvent,
    onDataset: (dataset) => later(() => write({ kind: 'dataset', attempt, dataset })),
  });
  ctx.track(jobId, handle);
  // The submitter's cancel: looked for every second, so the engine stops after the step it arrives in.
  const watch = setInterval(() => {
    later(async () => {
      if (cancelling || !(await stopAsked())) return;
      cancelling = true;
      handle.stop('cancel');
    });
  }, STOP_CHECK_MS);
  let result: JobResult;
  try {
    result = await handle.done;
  } finally {
    clearInterval(watch);
    ctx.track(jobId, null);
  }
  await chain;
  if (writeError !== null) throw writeError;

  if (ctx.handingBack() && !cancelling && result.status !== 'finished') {
    await write({ kind: 'handed-back', attempt, worker: ctx.worker });
    ctx.say(`run ${data.runId} of ${data.submitter}: handed back to the queue`);
    await job.moveToWait(token);
    throw new WaitingError();
  }
  switch (result.status) {
    case 'finished': {
      const event = end.finished;
      if (event === null) throw attemptError(`${where}: the run ended without its results`);
      const sent = await sendOutputs(jobId, dir, data, ctx);
      await write({ kind: 'event', attempt, event });
      ctx.say(`run ${data.runId} of ${data.submitter}: finished; ${sent.files.length} files sent back`);
      // Everything has travelled; a checkpoint too big to travel stays, and says where.
      if (sent.withheld.length === 0) rmSync(dir, { recursive: true, force: true });
      else ctx.say(`run ${data.runId}: ${sent.withheld.map((f) => f.path).join(', ')} stayed in ${dir} (over the size limit)`);
      return { status: 'finished', ...sent };
    }
    case 'cancelled':
      ctx.say(`run ${data.runId} of ${data.submitter}: cancelled`);
      rmSync(dir, { recursive: true, force: true });
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
