import { hostname } from 'node:os';
import { assertNever, InputError, serializeError } from '../../../shared/errors.js';
import type { EngineEvent, EventOf, PathMetrics } from '../../../shared/events.js';
import { claimRun, HEARTBEAT_MS, releaseRun } from '../../store/liveness.js';
import type { Store } from '../../store/store.js';
import { HistoryWriter, type WriteOptions } from './history-writer.js';

export interface RecordOptions {
  /**
   * Minimum milliseconds between two stored step samples. The engine emits a
   * step event every ~250 ms; the history keeps a sample every few seconds
   * and always the last step of each epoch.
   */
  stepSampleMs?: number;
  heartbeatMs?: number;
  now?: () => number;
  /**
   * Where the writes go: the host's one writer, which keeps them in order
   * while the database refuses them (locked, full, read-only) and retries.
   * A writer of its own if none is given.
   */
  writer?: HistoryWriter;
  /**
   * Remove the row if the job is closed with an input error before the
   * engine started (e.g. `--resume` with no checkpoint): bad input leaves no
   * run behind. For rows created for this job only, never for a resumed one.
   */
  discardIfUnstarted?: boolean;
}

export interface RunRecorder {
  readonly runId: number;
  /** Persists one engine event; hand it to `train({emit})` (or `search`). */
  emit(event: EngineEvent): void;
  /**
   * Stops the heartbeat. A run that never reached an end event (the job
   * threw before or around the engine) is marked failed with `error`.
   */
  close(error?: unknown): void;
  /**
   * Lets go of the run without ending it: the heartbeat stops and this
   * process no longer claims it. For a run that goes on elsewhere (on a
   * queue's worker) while the process following it quits.
   */
  detach(): void;
}

export const DEFAULT_STEP_SAMPLE_MS = 2_000;

/**
 * Turns a run's engine events into store writes: status and timings, epoch
 * metrics, sampled step metrics, checkpoint path, outputs, failure reason.
 * While it is open, this process owns the run: its pid and a heartbeat tell
 * other processes it is alive (see store/liveness.ts). Nothing here throws
 * at the emitter: a write the database refuses waits in the writer, in
 * order, so a run's end is recorded once the database takes writes again.
 */
export function recordRun(store: Store, runId: number, options: RecordOptions = {}): RunRecorder {
  return new RunRecording(store, runId, options);
}

class RunRecording implements RunRecorder {
  private readonly now: () => number;
  private readonly sampleMs: number;
  private readonly heartbeatMs: number;
  private readonly owner = { pid: process.pid, host: hostname() };
  private readonly writer: HistoryWriter;
  private readonly timer: NodeJS.Timeout;
  /** Whether a search alone ends with its result (null), or training the found network follows. */
  private readonly thenTrain: number | null;
  private lastSample = -Infinity;
  private lastTouch = -Infinity;
  private ended = false;
  private started = false;
  private closed = false;
  /** The last search epoch's validation figures: a search alone finishes with them. */
  private searchVal: { full: PathMetrics | null; small: PathMetrics | null } = { full: null, small: null };

  constructor(
    private readonly store: Store,
    readonly runId: number,
    private readonly options: RecordOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.sampleMs = options.stepSampleMs ?? DEFAULT_STEP_SAMPLE_MS;
    this.heartbeatMs = options.heartbeatMs ?? HEARTBEAT_MS;
    this.writer = options.writer ?? new HistoryWriter(store);
    claimRun(store.file, runId);
    store.runs.claim(runId, this.owner, this.now());
    this.thenTrain = store.runs.require(runId).search?.thenTrain ?? null;
    this.timer = setInterval(() => this.heartbeat(this.now()), this.heartbeatMs);
    // The heartbeat must not keep a finished CLI process alive.
    this.timer.unref();
  }

  private write(what: EngineEvent['type'] | 'heartbeat' | 'close', fn: () => void, o: WriteOptions = {}): void {
    this.writer.write(`${what} of run ${this.runId}`, fn, o);
  }

  /** Writes `fn` and the run's heartbeat in one transaction. */
  private writeTouched(e: EngineEvent & { time: number }, fn: () => void, o: WriteOptions = {}): void {
    this.write(
      e.type,
      () =>
        this.store.transaction(() => {
          fn();
          this.touch(e.time);
        }),
      o,
    );
  }

  private touch(t: number): void {
    this.store.runs.touch(this.runId, this.owner, t);
    this.lastTouch = t;
  }

  /** A heartbeat is worth writing only now; one that would wait behind others is skipped. */
  private heartbeat(t: number): void {
    this.write('heartbeat', () => this.touch(t), { droppable: true, onlyIfIdle: true });
  }

  private finish(): void {
    this.ended = true;
    clearInterval(this.timer);
  }

  /** Persists one engine event; handed to the engine's `emit`, so bound. */
  readonly emit = (e: EngineEvent): void => {
    if (this.closed) return;
    const { runs } = this.store;
    switch (e.type) {
      case 'started':
        return this.onStarted(e);
      case 'step':
        return this.onStep(e);
      case 'epoch':
        return this.writeTouched(e, () => {
          this.store.metrics.putEpoch(this.runId, e);
          runs.setEpochsDone(this.runId, e.epoch);
        });
      case 'checkpoint':
        return this.writeTouched(e, () => runs.setCheckpoint(this.runId, e.path));
      case 'finished':
        this.write(e.type, () => runs.markFinished(this.runId, e));
        return this.finish();
      case 'cancelled':
        this.write(e.type, () => runs.markEnded(this.runId, { status: 'cancelled', reason: null, error: null, checkpoint: e.checkpoint, time: e.time }));
        return this.finish();
      case 'failed':
        this.write(e.type, () =>
          runs.markEnded(this.runId, { status: 'failed', reason: e.reason, error: e.error.message, checkpoint: e.checkpoint, time: e.time }),
        );
        return this.finish();
      case 'search-started':
        this.started = true;
        return this.writeTouched(e, () => runs.markSearchStarted(this.runId, e));
      case 'search-epoch':
        return this.onSearchEpoch(e);
      case 'search-result':
        return this.onSearchResult(e);
      case 'search-step':
        if (e.time - this.lastTouch >= this.heartbeatMs) this.heartbeat(e.time);
        return;
      case 'log':
        return;
      default:
        assertNever(e, 'engine event');
    }
  };

  private onStarted(e: EventOf<'started'>): void {
    this.started = true;
    this.writeTouched(e, () => {
      this.store.runs.markStarted(this.runId, e);
      if (e.resumedFrom !== null) {
        // What the interrupted attempt recorded after its checkpoint is done again.
        const { epoch, step } = e.resumedFrom;
        this.store.metrics.truncateAfter(this.runId, epoch, epoch * e.stepsPerEpoch + step);
      }
    });
  }

  private onStep(e: EventOf<'step'>): void {
    const last = e.step === e.stepsPerEpoch;
    if (last || e.time - this.lastSample >= this.sampleMs) {
      this.lastSample = e.time;
      // An epoch's last step is kept with its epoch; the samples between may go when memory runs short.
      this.writeTouched(e, () => this.store.metrics.putStep(this.runId, e), { droppable: !last });
    } else if (e.time - this.lastTouch >= this.heartbeatMs) {
      this.heartbeat(e.time);
    }
  }

  private onSearchEpoch(e: EventOf<'search-epoch'>): void {
    this.searchVal = { full: e.val.full, small: e.val.small };
    // DAN: what each width group would choose after this epoch.
    const choices = e.groups.map((g) => ({ group: g.group, alpha: g.alpha, logits: g.eta, probabilities: g.probabilities }));
    this.writeTouched(e, () => {
      this.store.danChoices.put(this.runId, e.epoch, e.tau, choices);
      this.store.runs.addSearchEpoch(this.runId, e);
    });
  }

  private onSearchResult(e: EventOf<'search-result'>): void {
    const val = this.searchVal;
    const alone = this.thenTrain === null;
    this.writeTouched(e, () => {
      this.store.runs.setSearchResult(this.runId, e);
      // A search alone ends here; otherwise training the found network follows.
      if (alone) this.store.runs.markSearchFinished(this.runId, e, val);
    });
    if (alone) this.finish();
  }

  readonly close = (error?: unknown): void => {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    if (!this.started && this.options.discardIfUnstarted === true && error instanceof InputError) {
      this.write('close', () => this.store.runs.delete(this.runId));
    } else if (!this.ended) {
      const message = error === undefined ? 'the job ended without a result' : serializeError(error).message;
      const time = this.now();
      this.write('close', () => this.store.runs.markEnded(this.runId, { status: 'failed', reason: 'error', error: message, checkpoint: null, time }));
    }
    // This process owns the run until its last write is in: until then it is not another's to resume.
    this.writer.whenWritten(() => releaseRun(this.store.file, this.runId));
  };

  readonly detach = (): void => {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    releaseRun(this.store.file, this.runId);
  };
}
