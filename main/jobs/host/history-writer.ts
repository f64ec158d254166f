import type { HistoryWrites } from '../../../shared/api.js';
import type { Store } from '../../store/store.js';
import { classifyWriteFailure, type WriteFailure } from '../../store/write-failure.js';

export interface WriteOptions {
  /** A step sample or a heartbeat: when too many writes wait, the oldest of these go first. */
  droppable?: boolean;
  /** Worth writing only now (a heartbeat): skipped if others are waiting. */
  onlyIfIdle?: boolean;
}

export interface HistoryWriterOptions {
  /** Milliseconds before retry `attempt` (1-based). */
  retryDelay?: (attempt: number) => number;
  /**
   * How long a retry waits for another program's write lock. Short, because
   * better-sqlite3 waits synchronously: the server must keep answering.
   */
  retryBusyTimeoutMs?: number;
  /** Most writes kept while the history refuses them; beyond that the oldest droppable ones are let go. */
  maxPending?: number;
  /** The history stopped or started taking writes, or the count waiting changed at a retry. */
  onChange?: (state: HistoryWrites) => void;
  /** A write given up for good: retrying cannot help (its row is gone, or a bug). */
  onDropped?: (label: string, failure: WriteFailure) => void;
  now?: () => number;
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (handle: unknown) => void;
}

interface Pending {
  label: string;
  /** Null for a marker that only runs `then` once everything before it is written. */
  write: (() => void) | null;
  droppable: boolean;
  then?: () => void;
}

/** 0.5 s, 1 s, 2 s … capped at 10 s: quick after a short lock, quiet while a disk stays full. */
export function retryDelay(attempt: number): number {
  return Math.min(10_000, 500 * 2 ** Math.max(0, attempt - 1));
}

/**
 * The one way the host writes what runs report into the history. A write
 * the database refuses never throws at the caller (an event handler or a
 * timer, where a throw would end the process): it is kept, in order, with
 * every write after it, and retried with backoff until the database takes
 * it — whether another program held the lock, the disk was full or the
 * folder read-only. Meanwhile `state` says why, for a banner. Only writes
 * that can never succeed (their row was deleted, a bug) are dropped, and
 * said so.
 */
export class HistoryWriter {
  private readonly queue: Pending[] = [];
  private current: HistoryWrites = { state: 'ok' };
  private attempt = 0;
  private timer: unknown = null;
  private closed = false;
  private readonly delay: (attempt: number) => number;
  private readonly now: () => number;
  private readonly setTimer: (fn: () => void, ms: number) => unknown;
  private readonly clearTimer: (handle: unknown) => void;

  constructor(
    private readonly store: Store,
    private readonly options: HistoryWriterOptions = {},
  ) {
    this.delay = options.retryDelay ?? retryDelay;
    this.now = options.now ?? Date.now;
    this.setTimer =
      options.setTimer ??
      ((fn, ms) => {
        const t = setTimeout(fn, ms);
        // Retries must not keep a finished CLI alive; the CLI waits for them itself (settle).
        t.unref();
        return t;
      });
    this.clearTimer = options.clearTimer ?? ((h) => clearTimeout(h as ReturnType<typeof setTimeout>));
  }

  get state(): HistoryWrites {
    return this.current;
  }

  /** Writes waiting for the database. */
  get pending(): number {
    return this.queue.filter((p) => p.write !== null).length;
  }

  /** Writes now, or — while earlier writes wait — after them. Never throws. */
  write(label: string, write: () => void, o: WriteOptions = {}): 'written' | 'queued' | 'skipped' | 'dropped' {
    if (this.queue.length > 0) {
      if (o.onlyIfIdle === true) return 'skipped';
      this.enqueue({ label, write, droppable: o.droppable === true });
      return 'queued';
    }
    const failure = this.attemptWrite(write, null);
    if (failure === null) return 'written';
    if (failure.kind === 'other') {
      this.dropped(label, failure);
      return 'dropped';
    }
    if (o.onlyIfIdle === true) {
      this.fail(failure);
      return 'skipped';
    }
    this.enqueue({ label, write, droppable: o.droppable === true });
    this.fail(failure);
    return 'queued';
  }

  /** Runs `then` once every write queued so far is in the database (at once if none waits). */
  whenWritten(then: () => void): void {
    if (this.queue.length === 0) then();
    else this.queue.push({ label: 'marker', write: null, droppable: false, then });
  }

  /** Tries the waiting writes now, with the usual lock wait; true when none is left. */
  flush(): boolean {
    return this.drain(null);
  }

  /**
   * Waits (retrying) until every write is in or `waitMs` has passed; true
   * when none is left. For a process that is about to exit.
   */
  async settle(waitMs: number): Promise<boolean> {
    const deadline = this.now() + waitMs;
    for (let attempt = 1; !this.flush(); attempt++) {
      const left = deadline - this.now();
      if (left <= 0) return false;
      await new Promise((resolve) => setTimeout(resolve, Math.min(left, this.delay(attempt))));
    }
    return true;
  }

  /** Stops retrying on a timer; what waits stays in memory for `flush`/`settle`. */
  close(): void {
    this.closed = true;
    if (this.timer !== null) this.clearTimer(this.timer);
    this.timer = null;
  }

  private enqueue(p: Pending): void {
    this.queue.push(p);
    const max = this.options.maxPending ?? 100_000;
    if (this.pending <= max) return;
    // Memory stays bounded however long the history refuses writes: step samples and heartbeats go first.
    const oldest = this.queue.findIndex((q) => q.droppable);
    if (oldest >= 0) this.queue.splice(oldest, 1);
  }

  /** Null when the write went in. */
  private attemptWrite(write: () => void, busyTimeoutMs: number | null): WriteFailure | null {
    try {
      if (busyTimeoutMs === null) write();
      else this.store.withBusyTimeout(busyTimeoutMs, write);
      return null;
    } catch (e) {
      return classifyWriteFailure(e);
    }
  }

  private drain(busyTimeoutMs: number | null): boolean {
    while (this.queue.length > 0) {
      const head = this.queue[0]!;
      if (head.write !== null) {
        const failure = this.attemptWrite(head.write, busyTimeoutMs);
        if (failure !== null && failure.kind !== 'other') {
          this.fail(failure);
          return false;
        }
        if (failure !== null) this.dropped(head.label, failure);
      }
      this.queue.shift();
      try {
        head.then?.();
      } catch {
        // A marker's follow-up is bookkeeping of this process; it must not stop the writes behind it.
      }
    }
    this.attempt = 0;
    if (this.timer !== null) this.clearTimer(this.timer);
    this.timer = null;
    this.change({ state: 'ok' });
    return true;
  }

  private fail(failure: WriteFailure): void {
    if (failure.kind === 'other') return;
    const since = this.current.state === 'failing' ? this.current.since : this.now();
    this.change({ state: 'failing', problem: failure.kind, reason: failure.reason, pending: this.pending, since });
    if (this.timer !== null || this.closed) return;
    this.attempt += 1;
    this.timer = this.setTimer(() => {
      this.timer = null;
      this.drain(this.options.retryBusyTimeoutMs ?? 200);
    }, this.delay(this.attempt));
  }

  private change(next: HistoryWrites): void {
    const prev = this.current;
    const same =
      prev.state === next.state &&
      (prev.state === 'ok' || (next.state === 'failing' && prev.problem === next.problem && prev.pending === next.pending && prev.reason === next.reason));
    this.current = next;
    if (same) return;
    try {
      this.options.onChange?.(next);
    } catch {
      // An observer that fails (a closed window) must not stop the writes.
    }
  }

  private dropped(label: string, failure: WriteFailure): void {
    try {
      this.options.onDropped?.(label, failure);
    } catch {
      // As above.
    }
  }
}
