import { hostname } from 'node:os';
import type { SweepSummary } from '../../../shared/api.js';
import { InputError } from '../../../shared/errors.js';
import { expandGrid, type CellProgress, type SweepSpec, type SweepStatus, type SweepView } from '../../../shared/sweep.js';
import { redactQueueUrl } from '../../../shared/queue-url.js';
import type { JobManager } from './manager.js';
import type { RemoteRuns } from './queue/remote-runs.js';
import { runRemoteSweep } from './queue/remote-sweep.js';
import { runSweep, sweepView } from './sweep.js';

interface Running {
  stop: 'cancelled' | 'interrupted' | null;
  done: Promise<void>;
}

/**
 * The app's sweeps: each runs in the background on the app's job manager
 * (or on a queue of remote workers), beside the user's other runs, and
 * reports its cells as events.
 */
export class SweepRunner {
  private readonly running = new Map<number, Running>();

  constructor(
    private readonly manager: JobManager,
    private readonly remote: RemoteRuns | null = null,
  ) {}

  /** Starts a sweep on this machine, or on the queue at `queue` (checked by the caller). */
  start(spec: SweepSpec, queue: string | null = null): number {
    if (queue !== null && this.remote === null) throw new InputError('this host cannot send runs to a queue', 'queue');
    const sweepId = this.manager.store.sweeps.create(spec, { pid: process.pid, host: hostname() }, Date.now(), queue);
    this.launch(sweepId);
    return sweepId;
  }

  /**
   * Follows again the sweeps on a queue that a host which has gone left
   * running: their runs went on on the workers meanwhile.
   */
  followAgain(): number[] {
    if (this.remote === null) return [];
    const picked: number[] = [];
    for (const s of this.manager.store.sweeps.list()) {
      if (s.queue === null || this.running.has(s.id) || (s.status !== 'interrupted' && s.status !== 'running')) continue;
      this.launch(s.id);
      picked.push(s.id);
    }
    return picked;
  }

  resume(sweepId: number): number {
    const sweep = this.manager.store.sweeps.require(sweepId);
    if (this.running.has(sweepId) || sweep.status === 'running') throw new InputError(`sweep ${sweepId} is already running`, 'sweep');
    if (sweep.status === 'finished') throw new InputError(`sweep ${sweepId} has finished; there is nothing to resume`, 'sweep');
    this.launch(sweepId);
    return sweepId;
  }

  /** Asks the sweep's runs to stop after their current step; false if it was not running here. */
  cancel(sweepId: number): boolean {
    const r = this.running.get(sweepId);
    if (r === undefined) {
      this.manager.store.sweeps.require(sweepId);
      return false;
    }
    r.stop = 'cancelled';
    return true;
  }

  view(sweepId: number): SweepView {
    return sweepView(this.manager.store, sweepId, new Set(this.manager.activeRuns()));
  }

  list(): SweepSummary[] {
    return this.manager.store.sweeps.list().map((s) => {
      const cells = expandGrid(s.spec);
      const finishedRuns = cells.filter((c) => {
        const id = s.cells.get(c.key)?.runId;
        return id != null && this.manager.store.runs.get(id)?.status === 'finished';
      }).length;
      return {
        sweepId: s.id,
        status: s.status,
        createdAt: s.createdAt,
        finishedAt: s.finishedAt,
        spec: s.spec,
        queue: s.queue === null ? null : redactQueueUrl(s.queue),
        runs: cells.length,
        finishedRuns,
      };
    });
  }

  /** Quitting: every sweep stops its runs and ends interrupted, to be resumed next time. */
  async stopAll(): Promise<void> {
    for (const r of this.running.values()) r.stop ??= 'interrupted';
    await Promise.all([...this.running.values()].map((r) => r.done));
  }

  private launch(sweepId: number): void {
    const entry: Running = { stop: null, done: Promise.resolve() };
    this.running.set(sweepId, entry);
    const changed = (status: SweepStatus): void => this.manager.publish({ type: 'sweeps:changed', sweepId, status });
    const options = {
      stopRequested: () => entry.stop,
      onProgress: (progress: CellProgress) => this.manager.publish({ type: 'sweep:progress', progress }),
    };
    const onQueue = this.manager.store.sweeps.require(sweepId).queue !== null && this.remote !== null;
    entry.done = (this.remote !== null && onQueue ? runRemoteSweep(this.remote, sweepId, options) : runSweep(this.manager, sweepId, options))
      .then(changed, (e: unknown) => {
        // A sweep that cannot go on (its data vanished, the store broke) ends failed; its runs keep their own state.
        const message = e instanceof Error ? e.message : String(e);
        const time = Date.now();
        this.manager.writer.write(`end of sweep ${sweepId}`, () => this.manager.store.sweeps.end(sweepId, 'failed', time));
        process.emitWarning(`sweep ${sweepId} stopped: ${message}`);
        changed('failed');
      })
      .finally(() => this.running.delete(sweepId));
    changed('running');
  }
}
