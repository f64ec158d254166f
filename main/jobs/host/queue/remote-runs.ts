import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Job } from 'bullmq';
import type { DataSource } from '../../../../shared/api.js';
import { recordedSplit, trainConfig } from '../../../../shared/config-codecs.js';
import { superNetworkConfig } from '../../../../shared/dan.js';
import { InputError } from '../../../../shared/errors.js';
import { runOutputs } from '../../../../shared/event-codecs.js';
import type { EngineEvent } from '../../../../shared/events.js';
import type { DatasetInput, RunRecord, RunStatus, SearchRecord } from '../../../../shared/history.js';
import type { StopRequest } from '../../../../shared/stop.js';
import type { TrainConfig } from '../../../../shared/train-config.js';
import { deathOf, thisProcess } from '../../../store/liveness.js';
import type { Store } from '../../../store/store.js';
import type { QueueRunRecord } from '../../../store/queue-runs.js';
import { beginRun } from '../begin-run.js';
import type { JobResult } from '../job-host.js';
import type { Launcher } from '../launcher.js';
import type { JobManager, RunDelegate } from '../manager.js';
import { runOneShot } from '../one-shot.js';
import { recordRun, type RunRecorder } from '../record-run.js';
import type { DataRequest } from '../../job-spec.js';
import { decodeLine, type RemoteLine } from '../../queue/job-log.js';
import { DEFAULT_TRANSFER_LIMIT_BYTES, JOB_NAMES, QUEUE_PREFIX, RUN_QUEUE, runJobOptions, stopKey, TEACHER_FILE } from '../../queue/layout.js';
import { REMOTE_FORMAT, releaseJobId, runJobId, runJobResult, type ReleaseJob, type RemoteRunJob } from '../../queue/remote-job.js';
import { QueueLink } from './queue-link.js';
import { localRunFile, resumeFiles, workerRelative, writeRunFile } from './run-files-local.js';

/** A line of a job's log, read and made true here, before the history takes it. */
interface Prepared {
  /** Null for a line passed over (unreadable, or from an older attempt). */
  line: RemoteLine | null;
  event: EngineEvent | null;
}

/** A run on a queue, as this host follows it. */
interface Followed {
  runId: number;
  url: string;
  jobId: string;
  recorder: RunRecorder;
  outDir: string;
  /** Lines of the job's log applied so far, the attempt they came from, and the worker's folder for that attempt. */
  lines: number;
  attempt: number;
  workerDir: string | null;
  /** One reading of the log at a time; `again` asks for one more after it. */
  reading: Promise<void> | null;
  again: boolean;
  /** What went wrong reading its log (a bad line, a file that did not arrive): said when it ends badly. */
  problems: string[];
  ended: Promise<JobResult>;
  settle: (r: JobResult) => void;
  settled: boolean;
}

export interface RemoteRunsOptions {
  runsDir: string;
  cacheDir: string;
  launcher?: Launcher;
  env?: NodeJS.ProcessEnv;
  /** Things worth saying that stop nothing: a bad line from a worker, a checkpoint too big to travel. */
  onWarning?: (message: string) => void;
}

/** What a new run on a queue needs. */
export interface RemoteRunRequest {
  queue: string;
  data: DataSource;
  config: TrainConfig;
  /** A DAN search (its config is then the super-network's). */
  search?: SearchRecord | null;
  /** The dataset as this machine opened it (its content key); opened in a job process if not given. */
  dataset?: DatasetInput | null;
  outDir?: string | null;
  /** Continue the run recorded for `outDir` from its checkpoint (the CLI's --resume). */
  resume?: boolean;
  transferLimitBytes?: number;
}

const SUBMITTER_KEY = 'queue.submitter';
const TRANSFER_LIMIT_KEY = 'queue.transfer-limit';
const LOG_PAGE = 200;
const TIDY_MS = 10_000;

/** The first line of each failed attempt, as BullMQ kept it. */
function attemptErrors(job: Job): string[] {
  const lines = (job.stacktrace ?? []).map((s) => (s.split('\n')[0] ?? '').replace(/^\w*Error: /, '').trim()).filter((s) => s !== '');
  const last = job.failedReason ?? '';
  if (last !== '' && !lines.some((l) => l === last || l.endsWith(last))) lines.push(last);
  return lines;
}

/**
 * Runs trained by a queue of remote workers, followed from this host: it
 * creates their rows, puts their jobs on the queue, and relays each job's
 * log into the history as it grows — the same recorder as for local runs,
 * so every screen shows them the same way — fetching checkpoints as they
 * travel and the outputs at the end into the run's folder here. A run is
 * recorded once, whichever worker trains it and however often it is taken
 * over. The runs go on when this host quits; the next host to open the
 * history follows them again and catches up.
 */
export class RemoteRuns implements RunDelegate {
  private readonly links = new Map<string, Promise<QueueLink>>();
  private readonly followed = new Map<number, Followed>();
  private readonly byJob = new Map<string, number>();
  private readonly store: Store;
  private closing = false;

  constructor(
    readonly manager: JobManager,
    private readonly options: RemoteRunsOptions,
  ) {
    this.store = manager.store;
    manager.delegateTo(this);
  }

  /** This history's name on queues (job ids start with it), made once. */
  private submitterId(): string {
    const known = this.store.settings.get(SUBMITTER_KEY);
    if (known !== null) return known;
    const host = hostname()
      .replace(/[^A-Za-z0-9-]+/g, '-')
      .slice(0, 24);
    const id = `${host}-${randomBytes(3).toString('hex')}`;
    this.store.settings.set(SUBMITTER_KEY, id);
    return id;
  }

  /** The queue at `url`, connected once per host; a bad URL or password is an InputError naming it. */
  link(url: string): Promise<QueueLink> {
    // After detachAll nothing may connect again: a late read would hold the process open.
    if (this.closing) return Promise.reject(new Error('this host has let go of its queues'));
    let link = this.links.get(url);
    if (link === undefined) {
      link = QueueLink.open(url).then((l) => {
        l.events.on('progress', ({ jobId }) => this.wake(jobId));
        l.events.on('completed', ({ jobId }) => this.wake(jobId));
        l.events.on('failed', ({ jobId }) => this.wake(jobId));
        l.events.on('removed', ({ jobId }) => this.wake(jobId));
        return l;
      });
      // A failed connection is not kept: the next call tries again.
      link.catch(() => this.links.delete(url));
      this.links.set(url, link);
    }
    return link;
  }

  private warn(message: string): void {
    this.options.onWarning?.(message);
  }

  private problem(f: Followed, message: string): void {
    f.problems.push(message);
    this.warn(message);
  }

  // ---- RunDelegate -------------------------------------------------------

  owns(runId: number): boolean {
    return this.followed.has(runId) || this.store.queueRuns.get(runId) !== null;
  }

  active(): number[] {
    return [...this.followed.keys()];
  }

  ended(runId: number): Promise<JobResult> | null {
    return this.followed.get(runId)?.ended ?? null;
  }

  stop(runId: number, _request: StopRequest): boolean {
    if (!this.followed.has(runId)) return false;
    this.cancel(runId);
    return true;
  }

  /**
   * Asks the run to stop: a run still waiting on the queue is taken off it
   * and ends cancelled here; a running one is stopped by its worker after
   * its current step, with a checkpoint, which travels back.
   */
  cancel(runId: number): RunStatus {
    const f = this.followed.get(runId);
    if (f === undefined) {
      const run = this.store.runs.require(runId);
      throw new InputError(`run ${runId} is not running (it is ${run.status})`, 'run');
    }
    void this.cancelOnQueue(f).catch((e: unknown) => this.warn(`cancelling run ${runId}: ${(e as Error).message}`));
    return this.store.runs.require(runId).status === 'running' ? 'running' : 'cancelled';
  }

  private async cancelOnQueue(f: Followed): Promise<void> {
    const link = await this.link(f.url);
    // Whoever takes the job next — or the worker running it, after its step — sees this.
    await link.redis.set(stopKey(f.jobId), '1');
    const job = await link.queue.getJob(f.jobId);
    const state = job === undefined ? 'unknown' : await job.getState();
    if (state === 'active' || state === 'completed' || state === 'failed') {
      this.read(f);
      return;
    }
    if (job !== undefined) await link.queue.remove(f.jobId).catch(() => undefined);
    // Nothing of it ran since its last checkpoint: it ends here, resumable from that checkpoint.
    const checkpoint = this.store.runs.get(f.runId)?.checkpointPath ?? null;
    this.record(f, { type: 'cancelled', time: Date.now(), epoch: 0, step: 0, checkpoint });
    await this.finish(f, { status: 'cancelled', checkpoint });
  }

  /**
   * Puts a cancelled, interrupted or failed run on its queue again, as a
   * new job that starts from the checkpoint in the run's folder here.
   */
  resume(runId: number): number {
    if (this.followed.has(runId)) throw new InputError(`run ${runId} is already running`, 'run');
    const run = this.store.runs.require(runId);
    const q = this.store.queueRuns.get(runId);
    if (q === null) throw new InputError(`run ${runId} was not trained on a queue`, 'run');
    if (run.status === 'finished') throw new InputError(`run ${runId} has finished; there is nothing to resume`, 'run');
    const generation = q.generation + 1;
    this.store.queueRuns.resubmit(runId, q.url, runJobId(this.submitterId(), runId, generation), generation, null);
    const f = this.follow(this.store.queueRuns.require(runId), recordRun(this.store, runId));
    this.manager.publish({ type: 'runs:changed', runId });
    void this.enqueue(runId).catch((e: unknown) => this.fail(f, e));
    return runId;
  }

  /** Quitting: the runs go on on their workers; whoever opens the history next follows them again. */
  async detachAll(): Promise<void> {
    this.closing = true;
    for (const f of this.followed.values()) {
      f.recorder.detach();
      f.settle({ status: 'cancelled', checkpoint: null });
    }
    this.followed.clear();
    this.byJob.clear();
    const links = await Promise.allSettled([...this.links.values()]);
    this.links.clear();
    await Promise.all(links.map((l) => (l.status === 'fulfilled' ? l.value.close() : undefined)));
  }

  // ---- Submitting --------------------------------------------------------

  /** Opens the data here, in a job process, for its content key (the workers check theirs against it). */
  async openData(data: DataSource): Promise<DatasetInput> {
    const opened = await runOneShot(
      {
        kind: 'open-data',
        data: { source: data.path, limitTrain: data.limitTrain, limitVal: data.limitVal, import: data.settings },
        cacheDir: this.options.cacheDir,
      },
      {
        launcher: this.options.launcher,
        env: this.options.env,
        onImportProgress: (path, progress) => this.manager.publish({ type: 'dataset:progress', path, progress }),
      },
    );
    return opened.dataset;
  }

  /**
   * A new run on a queue: checks the queue (a bad URL or password is an
   * InputError before anything is recorded), records the run, and puts it on
   * the queue in the background — opening the data here first if its content
   * key is not known yet. A failure after that fails the run, with the reason.
   */
  async submit(r: RemoteRunRequest): Promise<number> {
    await this.link(r.queue);
    const f = this.createFollowed(r);
    const runId = f.runId;
    const enqueue = async (): Promise<void> => {
      if (this.store.runs.require(runId).datasetId === null) {
        const dataset = r.dataset ?? (await this.openData(r.data));
        this.store.transaction(() => this.store.runs.setDataset(runId, this.store.datasets.upsert(dataset, Date.now())));
      }
      await this.enqueue(runId, r.resume === true);
    };
    void enqueue().catch((e: unknown) => this.fail(f, e));
    return runId;
  }

  /** Records a run for a queue (not yet on it) and follows it; its id. */
  createRun(r: RemoteRunRequest): number {
    return this.createFollowed(r).runId;
  }

  private createFollowed(r: RemoteRunRequest): Followed {
    if (r.transferLimitBytes !== undefined) this.rememberTransferLimit(r.transferLimitBytes);
    const begun = beginRun(this.store, {
      config: r.config,
      search: r.search ?? null,
      dataset: r.dataset ?? null,
      outDir: r.outDir ?? null,
      runsDir: this.options.runsDir,
      resume: r.resume === true,
    });
    const existing = this.store.queueRuns.get(begun.runId);
    if (existing === null) {
      this.store.queueRuns.create(begun.runId, r.queue, runJobId(this.submitterId(), begun.runId, 1), 1, null);
    } else {
      // --resume of a run that was on a queue: a new job of it.
      const generation = existing.generation + 1;
      this.store.queueRuns.resubmit(begun.runId, r.queue, runJobId(this.submitterId(), begun.runId, generation), generation, null);
    }
    const f = this.follow(this.store.queueRuns.require(begun.runId), begun.recorder);
    this.manager.publish({ type: 'runs:changed', runId: begun.runId });
    return f;
  }

  /** How big a checkpoint may be to travel back, for this history's runs from now on. */
  rememberTransferLimit(bytes: number): void {
    this.store.settings.set(TRANSFER_LIMIT_KEY, String(bytes));
  }

  private transferLimit(): number {
    const v = Number(this.store.settings.get(TRANSFER_LIMIT_KEY) ?? NaN);
    return Number.isSafeInteger(v) && v >= 0 ? v : DEFAULT_TRANSFER_LIMIT_BYTES;
  }

  /** What the workers need of the data: its path as they see it, how it was split, its content key. */
  private dataOf(run: RunRecord): { request: DataRequest; contentKey: string } {
    const dataset = run.datasetId === null ? null : this.store.datasets.get(run.datasetId);
    if (dataset === null) throw new Error(`run ${run.id} has no dataset recorded yet`);
    const split = recordedSplit(dataset.split, `dataset ${dataset.id}: split`);
    return {
      request: { source: dataset.path, limitTrain: split.limitTrain ?? null, limitVal: split.limitVal ?? null, import: split.settings ?? {} },
      contentKey: dataset.contentKey,
    };
  }

  /** The job of a run, as its row and dataset say. */
  jobData(runId: number, students: string[]): RemoteRunJob {
    const run = this.store.runs.require(runId);
    const { request, contentKey } = this.dataOf(run);
    return {
      format: REMOTE_FORMAT,
      runId,
      submitter: `${hostname()} (${this.store.file})`,
      run:
        run.kind === 'search' && run.search !== null
          ? { kind: 'search', config: run.search.config, thenTrain: run.search.thenTrain }
          : { kind: 'train', config: run.config },
      data: request,
      contentKey,
      transferLimitBytes: this.transferLimit(),
      students,
    };
  }

  /**
   * Sends what must travel with a run before its job goes on the queue: a
   * kd run's teacher network (if its teacher finished here) and, when it
   * resumes, the checkpoints in its folder here.
   */
  private async sendInputs(runId: number, jobId: string, link: QueueLink, resume: boolean): Promise<void> {
    const run = this.store.runs.require(runId);
    if (run.config.mode === 'kd' && run.config.kd.teacherRun !== null) {
      const teacher = this.store.runs.get(run.config.kd.teacherRun);
      if (teacher?.outputs != null && existsSync(teacher.outputs.network)) {
        await link.files.put(jobId, TEACHER_FILE, readFileSync(teacher.outputs.network));
      }
    }
    if (resume && run.outDir !== null) {
      for (const path of resumeFiles(run.outDir)) await link.files.put(jobId, path, readFileSync(localRunFile(run.outDir, path)));
    }
  }

  /** Puts one run on the queue as a job of its own (resuming from its folder's checkpoint when there is one). */
  async enqueue(runId: number, resume = true): Promise<void> {
    const q = this.store.queueRuns.get(runId);
    if (q === null) throw new Error(`run ${runId} is not a queue run`);
    const link = await this.link(q.url);
    await link.redis.del(stopKey(q.jobId));
    await this.sendInputs(runId, q.jobId, link, resume);
    // Cancelled while its inputs travelled: it does not go on the queue.
    if (!this.followed.has(runId)) return;
    await link.queue.add(JOB_NAMES.run, this.jobData(runId, []), runJobOptions(q.jobId));
    this.store.queueRuns.markSubmitted(runId, Date.now());
    this.manager.publish({ type: 'runs:changed', runId });
  }

  /**
   * A standard run and the kd runs it teaches, as a BullMQ flow: the
   * teacher is the child of a release job, which BullMQ starts only once the
   * teacher has completed, and which puts the kd runs on the queue then. The
   * kd runs wait on the queue itself, not on this host.
   */
  async enqueueFlow(teacherRunId: number, studentRunIds: number[]): Promise<void> {
    const q = this.store.queueRuns.get(teacherRunId);
    if (q === null) throw new Error(`run ${teacherRunId} is not a queue run`);
    const link = await this.link(q.url);
    const students = studentRunIds.map((id) => {
      const s = this.store.queueRuns.get(id);
      if (s === null) throw new Error(`run ${id} is not a queue run`);
      return { jobId: s.jobId, data: this.jobData(id, []) };
    });
    const releaseId = releaseJobId(this.submitterId(), teacherRunId, q.generation);
    const release: ReleaseJob = { format: REMOTE_FORMAT, teacher: q.jobId, students };
    await link.redis.del(stopKey(q.jobId), ...students.map((s) => stopKey(s.jobId)));
    await link.flows.add({
      name: JOB_NAMES.release,
      queueName: RUN_QUEUE,
      prefix: QUEUE_PREFIX,
      data: release,
      opts: { jobId: releaseId, removeOnComplete: false, removeOnFail: false },
      children: [
        {
          name: JOB_NAMES.run,
          queueName: RUN_QUEUE,
          prefix: QUEUE_PREFIX,
          data: this.jobData(
            teacherRunId,
            students.map((s) => s.jobId),
          ),
          opts: { ...runJobOptions(q.jobId), failParentOnFailure: true },
        },
      ],
    });
    const now = Date.now();
    this.store.transaction(() => {
      this.store.queueRuns.markSubmitted(teacherRunId, now);
      for (const id of studentRunIds) {
        const s = this.store.queueRuns.require(id);
        this.store.queueRuns.resubmit(id, s.url, s.jobId, s.generation, releaseId);
        this.store.queueRuns.markSubmitted(id, now);
      }
    });
    for (const id of [teacherRunId, ...studentRunIds]) this.manager.publish({ type: 'runs:changed', runId: id });
  }

  /** Whether a run's job is on the queue, or will be put there by its flow. */
  async onQueue(runId: number): Promise<boolean> {
    const q = this.store.queueRuns.get(runId);
    if (q === null || q.submittedAt === null) return false;
    const link = await this.link(q.url);
    if ((await link.queue.getJob(q.jobId)) !== undefined) return true;
    if (q.releaseJob === null) return false;
    const release = await link.queue.getJob(q.releaseJob);
    if (release === undefined) return false;
    const state = await release.getState();
    return state !== 'failed' && state !== 'completed';
  }

  /** Removes what a sweep left on the queue: its release jobs (with their children). */
  async removeJobs(url: string, jobIds: string[]): Promise<void> {
    const link = await this.link(url);
    for (const id of jobIds) await link.queue.remove(id, { removeChildren: true }).catch(() => undefined);
  }

  /** Stops following a run that will never run (its teacher failed): its job and files go. */
  async forget(runId: number): Promise<void> {
    const f = this.followed.get(runId);
    if (f === undefined) return;
    this.followed.delete(runId);
    this.byJob.delete(f.jobId);
    f.recorder.detach();
    const link = await this.link(f.url);
    await link.queue.remove(f.jobId).catch(() => undefined);
    await link.files.drop(f.jobId);
    f.settle({ status: 'cancelled', checkpoint: null });
  }

  // ---- Following ---------------------------------------------------------

  private follow(q: QueueRunRecord, recorder: RunRecorder): Followed {
    let settle!: (r: JobResult) => void;
    const ended = new Promise<JobResult>((resolve) => (settle = resolve));
    const run = this.store.runs.require(q.runId);
    const f: Followed = {
      runId: q.runId,
      url: q.url,
      jobId: q.jobId,
      recorder,
      outDir: run.outDir ?? '',
      lines: q.linesApplied,
      attempt: q.attempt,
      workerDir: q.workerDir,
      reading: null,
      again: false,
      problems: [],
      ended,
      settle,
      settled: false,
    };
    this.followed.set(q.runId, f);
    this.byJob.set(q.jobId, q.runId);
    return f;
  }

  /**
   * Follows again the runs a host that has gone (quit, crashed) left on a
   * queue: reconnects, catches up on their logs from where the history
   * stopped, and stores what finished meanwhile. Runs whose job vanished
   * from the queue (a Redis that lost its data) go back on it from their
   * last checkpoint here.
   */
  followAgain(): number[] {
    const probe = thisProcess();
    const picked: number[] = [];
    for (const q of this.store.queueRuns.unsettled()) {
      if (this.followed.has(q.runId)) continue;
      const run = this.store.runs.get(q.runId);
      if (run === null) continue;
      if (run.status === 'finished' || run.status === 'failed' || run.status === 'cancelled') {
        // Its story was all read before that host went; only the queue was not tidied.
        this.store.queueRuns.settle(q.runId, Date.now());
        void this.tidy(q.url, q.jobId).catch((e: unknown) => this.warn(`run ${q.runId}: could not tidy the queue: ${(e as Error).message}`));
        continue;
      }
      if (run.owner.pid !== null && deathOf(this.store.file, q.runId, run.owner, probe) === null) continue;
      const wasRunning = run.status === 'running';
      const f = this.follow(q, recordRun(this.store, q.runId));
      picked.push(q.runId);
      void this.catchUp(f, q, wasRunning).catch((e: unknown) => this.warn(`following run ${q.runId} again: ${(e as Error).message}`));
    }
    return picked;
  }

  private async catchUp(f: Followed, q: QueueRunRecord, wasRunning: boolean): Promise<void> {
    const link = await this.link(f.url);
    const job = await link.queue.getJob(f.jobId);
    if (job === undefined) {
      if (q.submittedAt === null || (q.releaseJob !== null && (await this.onQueue(f.runId)))) return;
      this.warn(`run ${f.runId} is no longer on ${link.address.shown}; putting it back from its last checkpoint here`);
      await this.enqueue(f.runId, true);
      return;
    }
    if (wasRunning && (await job.getState()) === 'active') this.store.runs.markRunning(f.runId);
    this.manager.publish({ type: 'runs:changed', runId: f.runId });
    this.read(f);
  }

  private wake(jobId: string): void {
    const runId = this.byJob.get(jobId);
    const f = runId === undefined ? undefined : this.followed.get(runId);
    if (f !== undefined) this.read(f);
  }

  /** Reads the job's log from where the history stopped; then, if the job is done, stores its end. */
  private read(f: Followed): void {
    if (f.reading !== null) {
      f.again = true;
      return;
    }
    f.reading = (async () => {
      do {
        f.again = false;
        await this.readOnce(f);
      } while (f.again && !f.settled && !this.closing);
    })()
      .catch((e: unknown) => {
        if (!this.closing) this.warn(`reading the log of run ${f.runId}: ${(e as Error).message}`);
      })
      .finally(() => (f.reading = null));
  }

  private async readOnce(f: Followed): Promise<void> {
    if (f.settled || this.closing) return;
    const link = await this.link(f.url);
    // The state first: every line a job wrote before it ended is then in the log read below.
    const state = await link.queue.getJobState(f.jobId);
    for (;;) {
      const { logs } = await link.queue.getJobLogs(f.jobId, f.lines, f.lines + LOG_PAGE - 1, true);
      const page: Prepared[] = [];
      for (const [i, text] of logs.entries()) page.push(await this.prepare(f, text, f.lines + i, link));
      // Let go of (the host is quitting) while files travelled: the lines stay unread, for the next host.
      if (f.settled || this.closing) return;
      this.commit(f, page, f.lines + logs.length);
      if (logs.length < LOG_PAGE) break;
    }
    if (state !== 'completed' && state !== 'failed') return;
    // Fetched after the state: a job read before it ended would carry no return value or reason yet.
    const job = await link.queue.getJob(f.jobId);
    if (job === undefined || f.settled) return;
    if (state === 'completed') await this.completed(f, job);
    else await this.failed(f, job);
  }

  /**
   * Reads one line of the log: decoded, and its event made true here (files
   * fetched). A line of an older attempt, or one that cannot be read, is
   * passed over (the latter with the reason).
   */
  private async prepare(f: Followed, text: string, index: number, link: QueueLink): Promise<Prepared> {
    let line: RemoteLine;
    try {
      line = decodeLine(text, `run ${f.runId} (job ${f.jobId}) line ${index + 1}`);
    } catch (e) {
      this.problem(f, `skipped a line the worker wrote: ${(e as Error).message}`);
      return { line: null, event: null };
    }
    if (line.attempt < f.attempt) return { line: null, event: null };
    if (line.kind === 'attempt') {
      // Later lines of this page name files in this attempt's folder.
      f.attempt = line.attempt;
      f.workerDir = line.dir;
    }
    if (line.kind !== 'event') return { line, event: null };
    try {
      return { line, event: await this.localize(f, line.event, link) };
    } catch (e) {
      this.problem(f, `run ${f.runId}, line ${index + 1}: ${(e as Error).message}`);
      return { line: null, event: null };
    }
  }

  /** Applies a page of lines to the history in one transaction, with the count of lines read; then tells the subscribers. */
  private commit(f: Followed, page: Prepared[], lines: number): void {
    this.store.transaction(() => {
      for (const { line, event } of page) {
        if (line === null) continue;
        switch (line.kind) {
          case 'attempt':
            this.store.runs.setWorker(f.runId, line.worker);
            break;
          case 'dataset':
            this.store.runs.setDataset(f.runId, this.store.datasets.upsert(line.dataset, Date.now()));
            break;
          case 'handed-back':
            // Back on the queue, for another worker to take from its checkpoint.
            this.store.runs.claim(f.runId, { pid: process.pid, host: hostname() }, Date.now());
            break;
          case 'event':
            if (event !== null) f.recorder.emit(event);
            break;
        }
      }
      f.lines = lines;
      this.store.queueRuns.setProgress(f.runId, f.lines, f.attempt, f.workerDir);
    });
    for (const { line, event } of page) {
      if (line === null || line.kind === 'dataset') continue;
      if (line.kind !== 'event') {
        this.manager.publish({ type: 'runs:changed', runId: f.runId });
      } else if (event !== null) {
        this.manager.publish({ type: 'run:event', runId: f.runId, event });
        if (['started', 'search-started', 'finished', 'cancelled', 'failed'].includes(event.type))
          this.manager.publish({ type: 'runs:changed', runId: f.runId });
      }
    }
  }

  /**
   * An event from a worker, made true here: its paths point into the run's
   * folder on this machine, where the files it names are fetched first.
   */
  private async localize(f: Followed, e: EngineEvent, link: QueueLink): Promise<EngineEvent | null> {
    const fetch = async (path: string, keepPrevious: boolean): Promise<string | null> => {
      const rel = workerRelative(f.workerDir, path);
      const bytes = await link.files.get(f.jobId, rel);
      if (bytes === null) return null;
      const local = localRunFile(f.outDir, rel);
      writeRunFile(local, bytes, keepPrevious);
      return local;
    };
    const here = (path: string | null): string | null => {
      if (path === null) return null;
      const local = localRunFile(f.outDir, workerRelative(f.workerDir, path));
      return existsSync(local) ? local : null;
    };
    switch (e.type) {
      case 'checkpoint': {
        const local = await fetch(e.path, true);
        if (local === null) {
          this.warn(`run ${f.runId}: the checkpoint of epoch ${e.epoch} did not travel (over the size limit); it stays on the worker`);
          return null;
        }
        return { ...e, path: local };
      }
      case 'finished': {
        // Everything the run left travels back before its `finished` line: store it all, then say where.
        for (const rel of await link.files.list(f.jobId)) {
          if (rel === TEACHER_FILE) continue;
          const bytes = await link.files.get(f.jobId, rel);
          if (bytes !== null) writeRunFile(localRunFile(f.outDir, rel), bytes, false);
        }
        const outputs = e.outputs === null ? null : runOutputs(e.outputs, 'finished.outputs');
        const local = (p: string): string => localRunFile(f.outDir, workerRelative(f.workerDir, p));
        return {
          ...e,
          outputs:
            outputs === null
              ? null
              : {
                  network: local(outputs.network),
                  small: outputs.small === null ? null : { bundle: local(outputs.small.bundle), tfjs: local(outputs.small.tfjs) },
                  summary: local(outputs.summary),
                },
        };
      }
      case 'started': {
        const config = trainConfig(e.config, 'started.config');
        if (config.mode !== 'kd') return { ...e, config };
        // The history keeps where the teacher's network is here (its run has finished by now), not on the worker.
        const teacher = config.kd.teacherRun === null ? null : this.store.runs.get(config.kd.teacherRun);
        const local = teacher?.outputs?.network ?? null;
        return { ...e, config: local === null ? config : { ...config, kd: { ...config.kd, teacher: local } } };
      }
      case 'cancelled':
        return { ...e, checkpoint: here(e.checkpoint) };
      case 'failed':
        return { ...e, checkpoint: here(e.checkpoint) };
      default:
        return e;
    }
  }

  private record(f: Followed, event: EngineEvent): void {
    f.recorder.emit(event);
    this.manager.publish({ type: 'run:event', runId: f.runId, event });
    this.manager.publish({ type: 'runs:changed', runId: f.runId });
  }

  /** The job completed: its last lines are in; what it returned says how it ended. */
  private async completed(f: Followed, job: Job): Promise<void> {
    let result;
    try {
      result = runJobResult(job.returnvalue, `job ${f.jobId}: return value`);
    } catch (e) {
      f.recorder.close(e);
      await this.finish(f, { status: 'failed', reason: 'error', message: (e as Error).message });
      return;
    }
    if (result.withheld.length > 0) {
      this.warn(
        `run ${f.runId}: ${result.withheld.map((w) => `${w.path} (${Math.round(w.bytes / 1e6)} MB)`).join(', ')} stayed on the worker (over the size limit)`,
      );
    }
    const run = this.store.runs.require(f.runId);
    if (result.status === 'finished' && run.status !== 'finished') {
      // The worker says it finished, but its results never made it into the history: say so, with the first reason.
      const message = `the worker finished the run, but its results could not be stored here: ${f.problems[0] ?? 'its last lines are missing'}`;
      this.record(f, { type: 'failed', time: Date.now(), reason: 'error', error: { name: 'QueueRunFailed', message }, checkpoint: run.checkpointPath });
      await this.finish(f, { status: 'failed', reason: 'error', message });
      return;
    }
    await this.finish(f, result.status === 'finished' ? { status: 'finished' } : { status: 'cancelled', checkpoint: run.checkpointPath });
  }

  /** The job failed for good: every attempt's error goes into the run's. */
  private async failed(f: Followed, job: Job): Promise<void> {
    const errors = attemptErrors(job);
    const message =
      errors.length <= 1
        ? (errors[0] ?? 'the queue failed the run without a reason')
        : `failed ${errors.length} times: ${errors.map((m, i) => `(${i + 1}) ${m}`).join('; ')}`;
    const reason = errors.some((m) => m.includes('nan_loss')) ? 'nan_loss' : 'error';
    const checkpoint = this.store.runs.get(f.runId)?.checkpointPath ?? null;
    this.record(f, { type: 'failed', time: Date.now(), reason, error: { name: 'QueueRunFailed', message }, checkpoint });
    await this.finish(f, { status: 'failed', reason, message });
  }

  /** A run that could not even be put on the queue. */
  private fail(f: Followed, e: unknown): void {
    if (f.settled) return;
    const message = e instanceof Error ? e.message : String(e);
    this.record(f, { type: 'failed', time: Date.now(), reason: 'error', error: { name: 'QueueSubmitFailed', message }, checkpoint: null });
    void this.finish(f, {
      status: 'error',
      error: { name: 'QueueSubmitFailed', message, ...(e instanceof InputError ? { code: 'input', field: e.field } : {}) },
    });
  }

  /**
   * The run's story is all in the history: the queue lets go of its job and
   * files (a standard run that teaches in a flow stays until its release job
   * is removed with it).
   */
  private async finish(f: Followed, result: JobResult): Promise<void> {
    if (f.settled) return;
    f.settled = true;
    f.recorder.close();
    this.manager.publish({ type: 'runs:changed', runId: f.runId });
    const tidy = this.tidy(f.url, f.jobId).catch((e: unknown) => this.warn(`run ${f.runId}: could not tidy the queue: ${(e as Error).message}`));
    // Tidying waits for Redis a while at most (it may be restarting); what is left then stays for the next host.
    let timer: NodeJS.Timeout | undefined;
    const tidied = await Promise.race([tidy.then(() => true), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), TIDY_MS)))]);
    clearTimeout(timer);
    this.followed.delete(f.runId);
    this.byJob.delete(f.jobId);
    if (tidied) this.store.queueRuns.settle(f.runId, Date.now());
    this.manager.publish({ type: 'runs:changed', runId: f.runId });
    f.settle(result);
  }

  /** The queue lets go of a run whose story is in the history: its files, its stop request and its job. */
  private async tidy(url: string, jobId: string): Promise<void> {
    const link = await this.link(url);
    await link.files.drop(jobId);
    await link.redis.del(stopKey(jobId));
    const job = await link.queue.getJob(jobId);
    if (job !== undefined && job.parentKey === undefined) await link.queue.remove(jobId);
  }

  /** The super-network config a search run starts with (for callers that record searches). */
  static searchRecord(config: Parameters<typeof superNetworkConfig>[0], thenTrain: number | null): { config: TrainConfig; search: SearchRecord } {
    return { config: superNetworkConfig(config), search: { config, thenTrain, result: null } };
  }
}
