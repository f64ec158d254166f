import { hostname } from 'node:os';
import type { DatasetInput, RunRecord } from '../../../../shared/history.js';
import { cellConfig, expandGrid, teacherKey, type CellState, type SweepCell, type SweepStatus } from '../../../../shared/sweep.js';
import { claimRun, HEARTBEAT_MS, releaseRun, sweepOwnerKey } from '../../../store/liveness.js';
import type { SweepOptions } from '../sweep.js';
import type { RemoteRuns } from './remote-runs.js';

/** Where a kd run's teacher network will be: known once its standard run has finished here. */
function teacherOf(teacher: RunRecord | null): { network: string; runId: number } | null {
  if (teacher === null) return null;
  return { network: teacher.outputs?.network ?? `(the network of run ${teacher.id}, sent by the queue)`, runId: teacher.id };
}

/**
 * Runs (or follows again) a sweep on a queue of remote workers: every cell
 * gets one run, recorded here; the runs go on the queue at once, kd runs in
 * a BullMQ flow under the standard run of their seed, which the queue
 * releases when that run finishes. Finished runs are kept, cancelled or
 * interrupted ones go back on the queue from their checkpoint, failed ones
 * are reported; a kd run whose teacher failed is blocked. The same cell
 * states and events as a sweep on this machine, so the Sweeps screen shows
 * both alike.
 */
export async function runRemoteSweep(remote: RemoteRuns, sweepId: number, o: SweepOptions = {}): Promise<SweepStatus> {
  const store = remote.manager.store;
  const owner = { pid: process.pid, host: hostname() };
  store.sweeps.claim(sweepId, owner, Date.now());
  claimRun(store.file, sweepOwnerKey(sweepId));
  const heartbeat = setInterval(() => store.sweeps.touch(sweepId, Date.now()), HEARTBEAT_MS);
  heartbeat.unref();
  const first = store.sweeps.require(sweepId);
  const url = first.queue;
  if (url === null) throw new Error(`sweep ${sweepId} is not on a queue`);
  const spec = first.spec;
  const cells = expandGrid(spec);
  const reported = new Map<string, string>();
  const report = (cell: SweepCell, runId: number | null, state: CellState, error: string | null): void => {
    const sig = `${runId}:${state}:${error}`;
    if (reported.get(cell.key) === sig) return;
    reported.set(cell.key, sig);
    o.onProgress?.({ sweepId, cell, runId, state, error });
  };
  let wake: (() => void) | null = null;
  const unsubscribe = remote.manager.subscribe((e) => {
    if (e.type === 'runs:changed') wake?.();
  });
  const releases = new Set<string>();
  try {
    await remote.link(url);
    let dataset: DatasetInput | null = null;
    const runOf = (key: string): RunRecord | null => {
      const id = store.sweeps.require(sweepId).cells.get(key)?.runId;
      return id == null ? null : store.runs.get(id);
    };

    // Every cell without a run gets one now; the new ones go on the queue together, kd runs in their teacher's flow.
    const fresh: Array<{ cell: SweepCell; runId: number }> = [];
    for (const cell of cells) {
      const rec = store.sweeps.require(sweepId).cells.get(cell.key);
      if (rec?.error != null || runOf(cell.key) !== null) continue;
      dataset ??= await remote.openData(spec.data);
      const teacher = cell.mode === 'kd' ? teacherOf(runOf(teacherKey(cell))) : null;
      const runId = remote.createRun({ queue: url, data: spec.data, config: cellConfig(spec, cell, teacher), dataset });
      store.sweeps.setCell(sweepId, cell.key, runId, null);
      fresh.push({ cell, runId });
    }
    const isFresh = new Set(fresh.map((c) => c.runId));
    for (const { cell, runId } of fresh) {
      if (cell.mode === 'kd') continue;
      const students = cell.mode === 'standard' ? fresh.filter((c) => c.cell.mode === 'kd' && teacherKey(c.cell) === cell.key).map((c) => c.runId) : [];
      if (students.length > 0) await remote.enqueueFlow(runId, students);
      else await remote.enqueue(runId, false);
    }

    let stopped: 'cancelled' | 'interrupted' | null = null;
    for (;;) {
      const sweep = store.sweeps.require(sweepId);
      const active = new Set(remote.active());
      if (stopped === null) {
        stopped = o.stopRequested?.() ?? null;
        if (stopped === 'interrupted') {
          // The host is quitting: the runs go on on their workers, and the next host follows the sweep again.
          store.sweeps.end(sweepId, 'interrupted', Date.now());
          return 'interrupted';
        }
        if (stopped !== null) for (const rec of sweep.cells.values()) if (rec.runId !== null && active.has(rec.runId)) remote.cancel(rec.runId);
      }
      let settled = 0;
      let failed = 0;
      for (const cell of cells) {
        const rec = sweep.cells.get(cell.key);
        const run = runOf(cell.key);
        if (rec?.error != null) {
          settled += 1;
          failed += 1;
          report(cell, null, 'blocked', rec.error);
          continue;
        }
        if (run === null) {
          settled += 1;
          continue;
        }
        if (run.status === 'finished') {
          // Settled once the queue has let go of it too.
          if (!active.has(run.id)) settled += 1;
          report(cell, run.id, 'finished', null);
          continue;
        }
        if (run.status === 'failed' && !active.has(run.id)) {
          settled += 1;
          failed += 1;
          report(cell, run.id, 'failed', run.error);
          continue;
        }
        const teacher = cell.mode === 'kd' ? runOf(teacherKey(cell)) : null;
        if (cell.mode === 'kd' && run.startedAt === null && (teacher === null || teacher.status === 'failed' || teacher.status === 'cancelled')) {
          if (teacher === null || teacher.status === 'failed' || stopped !== null) {
            // Its teacher failed (or the sweep stops before it could learn): it never runs.
            const error = teacher?.status === 'failed' ? `its teacher, the standard run of seed ${cell.seed}, failed` : null;
            await remote.forget(run.id);
            if (error !== null) {
              store.transaction(() => {
                store.runs.delete(run.id);
                store.sweeps.setCell(sweepId, cell.key, null, error);
              });
              settled += 1;
              failed += 1;
              report(cell, null, 'blocked', error);
            } else {
              store.runs.markEnded(run.id, { status: 'cancelled', reason: null, error: null, checkpoint: null, time: Date.now() });
              settled += 1;
              report(cell, run.id, 'cancelled', null);
            }
            continue;
          }
        }
        if (active.has(run.id)) {
          const waiting = cell.mode === 'kd' && run.startedAt === null && teacher !== null && teacher.status !== 'finished';
          report(cell, run.id, waiting ? 'waiting' : run.status === 'running' ? 'running' : 'queued', null);
          // A kd run whose teacher finished but whose flow is gone (it was cancelled and resumed) goes on the queue itself.
          if (cell.mode === 'kd' && teacher?.status === 'finished' && run.startedAt === null && !isFresh.has(run.id) && !(await remote.onQueue(run.id))) {
            await remote.enqueue(run.id, false);
          }
          continue;
        }
        if (stopped !== null) {
          settled += 1;
          report(cell, run.id, run.status, null);
          continue;
        }
        // Cancelled or interrupted: back on the queue, from its checkpoint, in its own row. A kd run waits for its teacher.
        if (cell.mode === 'kd' && teacher?.status !== 'finished') {
          report(cell, run.id, 'waiting', null);
          continue;
        }
        remote.resume(run.id);
        report(cell, run.id, 'queued', null);
      }
      if (settled === cells.length) {
        const status: SweepStatus = stopped ?? (failed > 0 ? 'failed' : 'finished');
        store.sweeps.end(sweepId, status, Date.now());
        for (const id of store.sweeps.require(sweepId).cells.values()) {
          const q = id.runId === null ? null : store.queueRuns.get(id.runId);
          if (q?.releaseJob != null) releases.add(q.releaseJob);
        }
        return status;
      }
      await new Promise<void>((resolve) => {
        wake = resolve;
        // Stop requests are polled too, not only run changes.
        setTimeout(resolve, 500).unref();
      });
      wake = null;
    }
  } finally {
    unsubscribe();
    clearInterval(heartbeat);
    releaseRun(store.file, sweepOwnerKey(sweepId));
    if (releases.size > 0) await remote.removeJobs(url, [...releases]).catch(() => undefined);
  }
}
