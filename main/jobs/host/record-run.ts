import { hostname } from 'node:os';
import { assertNever, InputError, serializeError } from '../../../shared/errors.js';
import type { EngineEvent, PathMetrics } from '../../../shared/events.js';
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
  const now = options.now ?? Date.now;
  const sampleMs = options.stepSampleMs ?? DEFAULT_STEP_SAMPLE_MS;
  const heartbeatMs = options.heartbeatMs ?? HEARTBEAT_MS;
  const owner = { pid: process.pid, host: hostname() };
  const { runs, metrics } = store;
  let lastSample = -Infinity;
  let lastTouch = -Infinity;
  let ended = false;
  let started = false;
  let closed = false;
  // The last search epoch's validation figures: a search alone finishes with them.
  let searchVal: { full: PathMetrics | null; small: PathMetrics | null } = { full: null, small: null };

  const writer = options.writer ?? new HistoryWriter(store);
  const write = (what: EngineEvent['type'] | 'heartbeat' | 'close', fn: () => void, o: WriteOptions = {}): void => {
    writer.write(`${what} of run ${runId}`, fn, o);
  };
  const touch = (t: number): void => {
    runs.touch(runId, owner, t);
    lastTouch = t;
  };

  claimRun(store.file, runId);
  runs.claim(runId, owner, now());
  // Read once: whether a search alone ends with its result, or training the found network follows.
  const thenTrain = runs.require(runId).search?.thenTrain ?? null;
  // A heartbeat is worth writing only now; one that would wait behind others is skipped.
  const heartbeat = (t: number): void => write('heartbeat', () => touch(t), { droppable: true, onlyIfIdle: true });
  const timer = setInterval(() => heartbeat(now()), heartbeatMs);
  // The heartbeat must not keep a finished CLI process alive.
  timer.unref();

  const finish = (): void => {
    ended = true;
    clearInterval(timer);
  };

  const emit = (e: EngineEvent): void => {
    if (closed) return;
    switch (e.type) {
      case 'started':
        started = true;
        write(e.type, () =>
          store.transaction(() => {
            runs.markStarted(runId, e);
            if (e.resumedFrom !== null) {
              const { epoch, step } = e.resumedFrom;
              metrics.truncateAfter(runId, epoch, epoch * e.stepsPerEpoch + step);
            }
            touch(e.time);
          }),
        );
        break;
      case 'step': {
        const last = e.step === e.stepsPerEpoch;
        if (last || e.time - lastSample >= sampleMs) {
          lastSample = e.time;
          write(
            e.type,
            () =>
              store.transaction(() => {
                metrics.putStep(runId, e);
                touch(e.time);
              }),
            // An epoch's last step is kept with its epoch; the samples between may go when memory runs short.
            { droppable: !last },
          );
        } else if (e.time - lastTouch >= heartbeatMs) {
          heartbeat(e.time);
        }
        break;
      }
      case 'epoch':
        write(e.type, () =>
          store.transaction(() => {
            metrics.putEpoch(runId, e);
            runs.setEpochsDone(runId, e.epoch);
            touch(e.time);
          }),
        );
        break;
      case 'checkpoint':
        write(e.type, () =>
          store.transaction(() => {
            runs.setCheckpoint(runId, e.path);
            touch(e.time);
          }),
        );
        break;
      case 'finished':
        write(e.type, () => runs.markFinished(runId, e));
        finish();
        break;
      case 'cancelled':
        write(e.type, () => runs.markEnded(runId, { status: 'cancelled', reason: null, error: null, checkpoint: e.checkpoint, time: e.time }));
        finish();
        break;
      case 'failed':
        write(e.type, () => runs.markEnded(runId, { status: 'failed', reason: e.reason, error: e.error.message, checkpoint: e.checkpoint, time: e.time }));
        finish();
        break;
      case 'search-epoch': {
        searchVal = { full: e.val.full, small: e.val.small };
        // DAN: what each width group would choose after this epoch.
        const choices = e.groups.map((g) => ({ group: g.group, alpha: g.alpha, logits: g.eta, probabilities: g.probabilities }));
        write(e.type, () =>
          store.transaction(() => {
            store.danChoices.put(runId, e.epoch, e.tau, choices);
            runs.addSearchEpoch(runId, e);
            touch(e.time);
          }),
        );
        break;
      }
      case 'search-started':
        started = true;
        write(e.type, () =>
          store.transaction(() => {
            runs.markSearchStarted(runId, e);
            touch(e.time);
          }),
        );
        break;
      case 'search-result': {
        const val = searchVal;
        write(e.type, () =>
          store.transaction(() => {
            runs.setSearchResult(runId, e);
            // A search alone ends here; otherwise training the found network follows.
            if (thenTrain === null) runs.markSearchFinished(runId, e, val);
            touch(e.time);
          }),
        );
        if (thenTrain === null) finish();
        break;
      }
      case 'search-step':
        if (e.time - lastTouch >= heartbeatMs) heartbeat(e.time);
        break;
      case 'log':
        break;
      default:
        assertNever(e, 'engine event');
    }
  };

  const close = (error?: unknown): void => {
    if (closed) return;
    closed = true;
    clearInterval(timer);
    if (!started && options.discardIfUnstarted === true && error instanceof InputError) {
      write('close', () => runs.delete(runId));
    } else if (!ended) {
      const message = error === undefined ? 'the job ended without a result' : serializeError(error).message;
      const time = now();
      write('close', () => runs.markEnded(runId, { status: 'failed', reason: 'error', error: message, checkpoint: null, time }));
    }
    // This process owns the run until its last write is in: until then it is not another's to resume.
    writer.whenWritten(() => releaseRun(store.file, runId));
  };

  const detach = (): void => {
    if (closed) return;
    closed = true;
    clearInterval(timer);
    releaseRun(store.file, runId);
  };

  return { runId, emit, close, detach };
}
