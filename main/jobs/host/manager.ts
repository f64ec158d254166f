import type { CellProgress, SweepStatus } from '../../../shared/sweep.js';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { DataSource, HistoryWrites } from '../../../shared/api.js';
import { superNetworkConfig, type SearchConfig } from '../../../shared/dan.js';
import type { ImportProgress } from '../../../shared/dataset.js';
import { InputError } from '../../../shared/errors.js';
import type { EngineEvent } from '../../../shared/events.js';
import type { RunRecord, RunStatus, SearchRecord } from '../../../shared/history.js';
import type { TrainConfig } from '../../../shared/train-config.js';
import type { StopRequest } from '../../../shared/stop.js';
import type { Store } from '../../store/store.js';
import { beginRun } from './begin-run.js';
import { hostJob, type JobHandle, type JobResult } from './job-host.js';
import type { DataRequest, JobSpec, TestHooks } from '../job-spec.js';
import type { Launcher } from './launcher.js';
import { HistoryWriter } from './history-writer.js';
import { recordRun, type RunRecorder } from './record-run.js';
import { CHECKPOINT_FILE } from '../../../shared/run-files.js';
import { recordedSplit } from '../../../shared/config-codecs.js';

/** What the manager tells its subscribers (the app's windows, the browser shell's sockets). */
export type ManagerEvent =
  | { type: 'run:event'; runId: number; event: EngineEvent }
  | { type: 'runs:changed'; runId: number }
  | { type: 'dataset:progress'; path: string; progress: ImportProgress }
  | { type: 'sweep:progress'; progress: CellProgress }
  | { type: 'sweeps:changed'; sweepId: number; status: SweepStatus }
  | { type: 'history:writes'; state: HistoryWrites };

export interface ManagerOptions {
  /** Where runs without a chosen folder keep their files: `<runsDir>/<run id>`. */
  runsDir: string;
  cacheDir: string;
  /** Runs trained at once; more wait, queued (default 1: training takes the machine). */
  concurrency?: number;
  launcher?: Launcher;
  env?: NodeJS.ProcessEnv;
  /** Passed to jobs, honoured only under ADJOIN_TEST_HOOKS=1. */
  testHooks?: TestHooks | undefined;
  /** How the history writer retries (tests make it quick). */
  retryDelay?: (attempt: number) => number;
}

/** How the CLI starts a run (the app takes the defaults). */
export interface StartOptions {
  /** The run's folder; default `<runsDir>/<run id>`. */
  outDir?: string | null;
  /** Continue the run recorded for `outDir` from its checkpoint. */
  resume?: boolean;
  /** Remove the run's row if bad input stops it before training starts (the CLI: bad input leaves no run behind). */
  discardIfUnstarted?: boolean;
  /** Engines training this run side by side on the CPU. */
  workers?: number | null;
}

/** Whether a run folder holds a checkpoint to continue from. */
function resumable(dir: string): boolean {
  return existsSync(join(dir, CHECKPOINT_FILE)) || existsSync(join(dir, `${CHECKPOINT_FILE}.prev`));
}

interface Active {
  runId: number;
  /** Engines for this run, when its starter asked for a number. */
  workers: number | null;
  /** The row goes if bad input stops the job before it trains. */
  discardIfUnstarted: boolean;
  /** The engine has reported its start. */
  started: boolean;
  recorder: RunRecorder;
  handle: JobHandle | null;
  spec: Extract<JobSpec, { kind: 'train' | 'search' }>;
  lastCheckpoint: string | null;
  /** The job's process is gone; the run stays here until what it reported is in the history. */
  exited: boolean;
  /** Resolves with how the job ended, once its process is gone (quitting waits for this, not for the history). */
  gone: Promise<JobResult>;
  /** Resolves when the job ended and its outcome is recorded. */
  ended: Promise<JobResult>;
}

type Entry = Active & { settle: (r: JobResult) => void; left: (r: JobResult) => void };

/**
 * Runs this host follows but does not run: ones a queue of remote workers
 * trains (main/jobs/host/queue). The manager hands their stop, cancel,
 * resume and end to it, so every front end treats both kinds alike.
 */
export interface RunDelegate {
  /** Whether the run was given to a queue: its cancel and resume go there too. */
  owns(runId: number): boolean;
  /** The runs it follows that have not ended. */
  active(): number[];
  stop(runId: number, request: StopRequest): boolean;
  cancel(runId: number): RunStatus;
  resume(runId: number): number;
  ended(runId: number): Promise<JobResult> | null;
  /** Quitting: lets go of the runs, which go on on their workers. */
  detachAll(): Promise<void>;
}

function dataRequest(d: DataSource): DataRequest {
  return { source: d.path, limitTrain: d.limitTrain, limitVal: d.limitVal, import: d.settings };
}

/**
 * Runs jobs in processes of their own (`hostJob`), records their events in
 * the store (the one writer) and forwards them to subscribers. A job whose
 * process dies is recorded as failed (`crashed`); the manager, the other
 * runs and the database carry on.
 */
export class JobManager {
  private readonly active = new Map<number, Entry>();
  private readonly queue: number[] = [];
  private readonly listeners = new Set<(e: ManagerEvent) => void>();
  private readonly concurrency: number;
  /** Every write of what jobs report goes through it: a refused write waits in order and is retried, never thrown. */
  readonly writer: HistoryWriter;

  private delegate: RunDelegate | null = null;

  constructor(
    readonly store: Store,
    private readonly options: ManagerOptions,
  ) {
    this.concurrency = Math.max(1, options.concurrency ?? 1);
    this.writer = new HistoryWriter(store, {
      onChange: (state) => this.publish({ type: 'history:writes', state }),
      onDropped: (label, failure) => process.emitWarning(`Adjoin gave up writing the ${label} to ${store.file}: ${failure.reason}`),
      ...(options.retryDelay === undefined ? {} : { retryDelay: options.retryDelay }),
    });
  }

  /** Runs on a queue: their stop, cancel, resume and end are the delegate's. */
  delegateTo(delegate: RunDelegate): void {
    this.delegate = delegate;
  }

  private delegated(runId: number): RunDelegate | null {
    return !this.active.has(runId) && this.delegate?.owns(runId) === true ? this.delegate : null;
  }

  subscribe(listener: (e: ManagerEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Sends an event to every subscriber. */
  publish(e: ManagerEvent): void {
    for (const l of this.listeners) {
      try {
        l(e);
      } catch {
        // A subscriber that fails (a closed socket) must not stop the others or the run.
      }
    }
  }

  /** Queues a training run and starts it when a slot is free. */
  startTrain(data: DataSource, config: TrainConfig, o: StartOptions = {}): number {
    return this.begin(config, null, o, (outDir, resume) => ({ kind: 'train', config, ...this.jobBase(data, outDir, resume) }));
  }

  /** Queues a DAN search (then adjoined training of what it finds, if `thenTrain`). */
  startSearch(data: DataSource, config: SearchConfig, thenTrain: number | null, o: StartOptions = {}): number {
    const search: SearchRecord = { config, thenTrain, result: null };
    return this.begin(superNetworkConfig(config), search, o, (outDir, resume) => ({
      kind: 'search',
      config,
      thenTrain,
      ...this.jobBase(data, outDir, resume),
    }));
  }

  private jobBase(data: DataSource, outDir: string, resume: boolean): Omit<Extract<JobSpec, { kind: 'train' }>, 'kind' | 'config'> {
    return {
      data: dataRequest(data),
      outDir,
      cacheDir: this.options.cacheDir,
      resume,
      ...(this.options.testHooks === undefined ? {} : { testHooks: this.options.testHooks }),
    };
  }

  private begin(config: TrainConfig, search: SearchRecord | null, o: StartOptions, spec: (outDir: string, resume: boolean) => Active['spec']): number {
    const resume = o.resume === true;
    const begun = beginRun(
      this.store,
      { config, search, dataset: null, outDir: o.outDir ?? null, runsDir: this.options.runsDir, resume },
      // A run the app started stays in the history even if its data turns out bad: the reason is shown there.
      { discardIfUnstarted: o.discardIfUnstarted ?? false, writer: this.writer },
    );
    // A search resumes from its own folder inside the run's.
    const resumeDir = search === null ? begun.outDir : join(begun.outDir, 'search');
    this.enqueue(begun.runId, begun.recorder, spec(begun.outDir, resume && resumable(resumeDir)), o.workers ?? null, o.discardIfUnstarted ?? false);
    return begun.runId;
  }

  private enqueue(runId: number, recorder: RunRecorder, spec: Active['spec'], workers: number | null = null, discardIfUnstarted = false): void {
    let settle!: (r: JobResult) => void;
    let left!: (r: JobResult) => void;
    const ended = new Promise<JobResult>((resolve) => (settle = resolve));
    const gone = new Promise<JobResult>((resolve) => (left = resolve));
    const entry: Entry = {
      runId,
      workers,
      discardIfUnstarted,
      started: false,
      recorder,
      handle: null,
      spec,
      lastCheckpoint: null,
      exited: false,
      gone,
      ended,
      settle,
      left,
    };
    this.active.set(runId, entry);
    this.queue.push(runId);
    this.publish({ type: 'runs:changed', runId });
    this.pump();
  }

  /**
   * A job's environment. Runs that train on the CPU use one engine per core;
   * with several jobs at once they share the cores (unless the environment
   * already says how many engines a run takes).
   */
  private jobEnv(workers: number | null): NodeJS.ProcessEnv {
    const env = this.options.env ?? process.env;
    if (workers !== null) return { ...env, ADJOIN_TRAIN_WORKERS: String(workers) };
    if (env['ADJOIN_TRAIN_WORKERS'] !== undefined) return env;
    return { ...env, ADJOIN_TRAIN_WORKERS: String(Math.max(1, Math.floor(availableParallelism() / this.concurrency))) };
  }

  private running(): number {
    let n = 0;
    for (const a of this.active.values()) if (a.handle !== null && !a.exited) n += 1;
    return n;
  }

  private pump(): void {
    while (this.running() < this.concurrency && this.queue.length > 0) {
      const runId = this.queue.shift()!;
      const entry = this.active.get(runId);
      if (entry !== undefined) this.launch(entry);
    }
  }

  private launch(entry: Entry): void {
    const { runId, recorder } = entry;
    entry.handle = hostJob(entry.spec, {
      ...(this.options.launcher === undefined ? {} : { launcher: this.options.launcher }),
      env: this.jobEnv(entry.workers),
      onEvent: (event) => {
        if (event.type === 'checkpoint') entry.lastCheckpoint = event.path;
        if (event.type === 'started' || event.type === 'search-started') entry.started = true;
        recorder.emit(event);
        this.publish({ type: 'run:event', runId, event });
        if (event.type === 'started' || event.type === 'search-started' || event.type === 'finished' || event.type === 'cancelled' || event.type === 'failed') {
          this.publish({ type: 'runs:changed', runId });
        }
      },
      onDataset: (dataset) => {
        const time = Date.now();
        this.writer.write(`dataset of run ${runId}`, () =>
          this.store.transaction(() => this.store.runs.setDataset(runId, this.store.datasets.upsert(dataset, time))),
        );
      },
      onImportProgress: (path, progress) => this.publish({ type: 'dataset:progress', path, progress }),
    });
    void entry.handle.done.then((result) => {
      if (result.status === 'error' && result.error.code === 'input' && entry.discardIfUnstarted && !entry.started) {
        // Bad input found by the job before training (no checkpoint to resume, a teacher that does not fit):
        // a run the CLI started leaves no row behind.
        recorder.close(new InputError(result.error.message, result.error.field ?? 'input'));
      } else if (result.status === 'crashed' || result.status === 'error') {
        // A job that ended without reporting its end — its process died, or it
        // stopped on bad input before training — is failed in the history with the reason.
        const event: EngineEvent = {
          type: 'failed',
          time: Date.now(),
          reason: result.status === 'crashed' ? 'crashed' : 'error',
          error: result.status === 'crashed' ? { name: 'EngineCrash', message: `${result.message}; the run was stopped` } : result.error,
          checkpoint: entry.lastCheckpoint,
        };
        recorder.emit(event);
        this.publish({ type: 'run:event', runId, event });
      }
      recorder.close();
      entry.exited = true;
      entry.left(result);
      this.pump();
      // The run counts as active until its end is in the history (a locked or full
      // database holds it in the writer): a sweep must not resume it meanwhile.
      this.writer.whenWritten(() => {
        this.active.delete(runId);
        this.publish({ type: 'runs:changed', runId });
        entry.settle(result);
      });
    });
  }

  /** Asks a running run to stop after its current step (it checkpoints); false if it is not running here. */
  stop(runId: number, request: StopRequest): boolean {
    const delegate = this.delegated(runId);
    if (delegate !== null) return delegate.stop(runId, request);
    const handle = this.active.get(runId)?.handle ?? null;
    handle?.stop(request);
    return handle !== null;
  }

  /** Stops a running run after its current step (it checkpoints), or drops a queued one. */
  cancel(runId: number): RunStatus {
    const delegate = this.delegated(runId);
    if (delegate !== null) return delegate.cancel(runId);
    const entry = this.active.get(runId);
    if (entry === undefined) {
      const run = this.store.runs.require(runId);
      throw new InputError(`run ${runId} is not running (it is ${run.status})`, 'run');
    }
    if (entry.exited) throw new InputError(`run ${runId} has ended; its outcome is waiting to be recorded`, 'run');
    if (entry.handle !== null) {
      entry.handle.stop('cancel');
      return 'running';
    }
    this.queue.splice(this.queue.indexOf(runId), 1);
    this.active.delete(runId);
    entry.recorder.emit({ type: 'cancelled', time: Date.now(), epoch: 0, step: 0, checkpoint: null });
    entry.recorder.close();
    entry.left({ status: 'cancelled', checkpoint: null });
    this.publish({ type: 'runs:changed', runId });
    return 'cancelled';
  }

  /**
   * Continues an interrupted, cancelled or failed run from its last
   * checkpoint, in its own folder and history row — from the start if it
   * died before its first checkpoint.
   */
  resume(runId: number, dataIfUnopened: DataSource | null = null): number {
    const delegate = this.delegated(runId);
    if (delegate !== null) return delegate.resume(runId);
    if (this.active.has(runId)) throw new InputError(`run ${runId} is already running`, 'run');
    const run = this.store.runs.require(runId);
    if (run.status === 'finished') throw new InputError(`run ${runId} has finished; there is nothing to resume`, 'run');
    if (run.outDir === null) throw new InputError(`run ${runId} has no folder to resume from`, 'run');
    // A run stopped while queued never recorded its data; whoever queued it (a sweep) may know it.
    const data = run.data === null && dataIfUnopened !== null ? dataIfUnopened : this.recordedData(run);
    const spec = this.resumeSpec(run, data);
    const recorder = recordRun(this.store, runId, { writer: this.writer });
    this.enqueue(runId, recorder, spec);
    return runId;
  }

  private recordedData(run: RunRecord): DataSource {
    if (run.data === null) throw new InputError(`run ${run.id} never opened its data; start it again instead`, 'run');
    const dataset = run.datasetId === null ? null : this.store.datasets.get(run.datasetId);
    const split = dataset === null ? {} : recordedSplit(dataset.split, `dataset ${dataset.id}: split`);
    return { path: run.data.source, settings: split.settings ?? {}, limitTrain: split.limitTrain ?? null, limitVal: split.limitVal ?? null };
  }

  private resumeSpec(run: RunRecord, data: DataSource): Active['spec'] {
    const outDir = run.outDir!;
    if (run.kind === 'train') return { kind: 'train', config: run.config, ...this.jobBase(data, outDir, resumable(outDir)) };
    const search = run.search!;
    if (search.result === null) {
      return { kind: 'search', config: search.config, thenTrain: search.thenTrain, ...this.jobBase(data, outDir, resumable(join(outDir, 'search'))) };
    }
    // The search had finished: continue training what it found.
    const trainDir = join(outDir, 'train');
    return { kind: 'train', config: run.config, ...this.jobBase(data, trainDir, resumable(trainDir)) };
  }

  /** Resolves when the run's job process is gone, with how it ended, whether or not the history has taken its end yet. */
  jobEnded(runId: number): Promise<JobResult> | null {
    return this.active.get(runId)?.gone ?? this.delegate?.ended(runId) ?? null;
  }

  /** Resolves when the run's job ends and its end is in the history (tests, quitting). */
  ended(runId: number): Promise<JobResult> | null {
    return this.active.get(runId)?.ended ?? this.delegate?.ended(runId) ?? null;
  }

  activeRuns(): number[] {
    return [...this.active.keys(), ...(this.delegate?.active() ?? [])];
  }

  /**
   * Quitting: asks every running job to checkpoint and stop, drops queued
   * ones, and waits (killing what does not stop within `timeoutMs`).
   */
  async stopAll(request: StopRequest = 'checkpoint-and-stop', timeoutMs = 60_000): Promise<void> {
    for (const runId of [...this.queue]) this.cancel(runId);
    const running = [...this.active.values()];
    for (const a of running) if (!a.exited) a.handle?.stop(request);
    // The processes, not the history: a history that refuses writes must not keep the app from quitting.
    const all = Promise.all(running.map((a) => a.gone));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    if ((await Promise.race([all, timeout])) === 'timeout') {
      for (const a of running) a.handle?.kill();
      await all;
    }
    clearTimeout(timer);
    await this.delegate?.detachAll();
  }
}
