import { hostname } from 'node:os';
import type { DatasetInput, RunRecord } from '../../../../shared/history.js';
import { cellConfig, expandGrid, teacherKey, type SweepCell, type SweepSpec, type SweepStatus } from '../../../../shared/sweep.js';
import { claimRun, HEARTBEAT_MS, releaseRun, sweepOwnerKey } from '../../../store/liveness.js';
import type { Store } from '../../../store/store.js';
import type { SweepRecord } from '../../../store/sweeps.js';
import type { SweepOptions } from '../sweep.js';
import { changeReporter, runChanges, type CellOutcome, type CellReporter } from '../sweep-loop.js';
import type { RemoteRuns } from './remote-runs.js';

/** Where a kd run's teacher network will be: known once its standard run has finished here. */
function teacherOf(teacher: RunRecord | null): { network: string; runId: number } | null {
  if (teacher === null) return null;
  return { network: teacher.outputs?.network ?? `(the network of run ${teacher.id}, sent by the queue)`, runId: teacher.id };
}

/** What every step of following a remote sweep needs. */
interface RemoteSweep {
  remote: RemoteRuns;
  store: Store;
  sweepId: number;
  url: string;
  spec: SweepSpec;
  cells: SweepCell[];
  report: CellReporter;
  /** The run recorded for a cell, read from the history each time: a pass deletes the row of a kd run whose teacher failed. */
  runOf: (key: string) => RunRecord | null;
}

/** One pass over the cells: the sweep as the history has it now and the runs the queue still holds. */
interface Pass {
  sweep: SweepRecord;
  active: Set<number>;
  stopped: 'cancelled' | 'interrupted' | null;
  /** The runs this call put on the queue: their kd runs are already in their teacher's flow. */
  fresh: Set<number>;
}

/** Records a run for every cell that has none; returns the new runs, in the order of the cells. */
async function createMissingRuns(s: RemoteSweep): Promise<Array<{ cell: SweepCell; runId: number }>> {
  let dataset: DatasetInput | null = null;
  const fresh: Array<{ cell: SweepCell; runId: number }> = [];
  for (const cell of s.cells) {
    const rec = s.store.sweeps.require(s.sweepId).cells.get(cell.key);
    if (rec?.error != null || s.runOf(cell.key) !== null) continue;
    dataset ??= await s.remote.openData(s.spec.data);
    const teacher = cell.mode === 'kd' ? teacherOf(s.runOf(teacherKey(cell))) : null;
    const runId = s.remote.createRun({ queue: s.url, data: s.spec.data, config: cellConfig(s.spec, cell, teacher), dataset });
    s.store.sweeps.setCell(s.sweepId, cell.key, runId, null);
    fresh.push({ cell, runId });
  }
  return fresh;
}

/** Puts the new runs on the queue together: a standard run with kd students heads a flow that holds them until it finishes. */
async function enqueueNewRuns(s: RemoteSweep, fresh: Array<{ cell: SweepCell; runId: number }>): Promise<void> {
  for (const { cell, runId } of fresh) {
    if (cell.mode === 'kd') continue;
    const students = cell.mode === 'standard' ? fresh.filter((c) => c.cell.mode === 'kd' && teacherKey(c.cell) === cell.key).map((c) => c.runId) : [];
    if (students.length > 0) await s.remote.enqueueFlow(runId, students);
    else await s.remote.enqueue(runId, false);
  }
}

/** A kd run that never started and never will: its teacher is gone or failed, or was cancelled by a sweep that is stopping. */
function isOrphanedStudent(cell: SweepCell, run: RunRecord, teacher: RunRecord | null, stopped: Pass['stopped']): boolean {
  if (cell.mode !== 'kd' || run.startedAt !== null) return false;
  return teacher === null || teacher.status === 'failed' || (teacher.status === 'cancelled' && stopped !== null);
}

/** Takes an orphaned kd run off the queue: blocked (its row deleted) when its teacher failed, otherwise cancelled. */
async function dropOrphanedStudent(s: RemoteSweep, cell: SweepCell, run: RunRecord, teacher: RunRecord | null): Promise<CellOutcome> {
  const error = teacher?.status === 'failed' ? `its teacher, the standard run of seed ${cell.seed}, failed` : null;
  await s.remote.forget(run.id);
  if (error !== null) {
    s.store.transaction(() => {
      s.store.runs.delete(run.id);
      s.store.sweeps.setCell(s.sweepId, cell.key, null, error);
    });
    s.report(cell, null, 'blocked', error);
    return 'failed';
  }
  s.store.runs.markEnded(run.id, { status: 'cancelled', reason: null, error: null, checkpoint: null, time: Date.now() });
  s.report(cell, run.id, 'cancelled', null);
  return 'settled';
}

/** Reports a run the queue still holds; a kd run whose teacher finished but whose flow is gone (cancelled, then resumed) goes on the queue itself. */
async function followQueuedRun(s: RemoteSweep, pass: Pass, cell: SweepCell, run: RunRecord, teacher: RunRecord | null): Promise<void> {
  const waiting = cell.mode === 'kd' && run.startedAt === null && teacher !== null && teacher.status !== 'finished';
  s.report(cell, run.id, waiting ? 'waiting' : run.status === 'running' ? 'running' : 'queued', null);
  if (cell.mode === 'kd' && teacher?.status === 'finished' && run.startedAt === null && !pass.fresh.has(run.id) && !(await s.remote.onQueue(run.id))) {
    await s.remote.enqueue(run.id, false);
  }
}

/** Brings one cell a step forward and says whether it has settled. */
async function advanceCell(s: RemoteSweep, pass: Pass, cell: SweepCell): Promise<CellOutcome> {
  const rec = pass.sweep.cells.get(cell.key);
  const run = s.runOf(cell.key);
  if (rec?.error != null) {
    s.report(cell, null, 'blocked', rec.error);
    return 'failed';
  }
  if (run === null) return 'settled';
  if (run.status === 'finished') {
    s.report(cell, run.id, 'finished', null);
    // Settled once the queue has let go of it too.
    return pass.active.has(run.id) ? 'open' : 'settled';
  }
  if (run.status === 'failed' && !pass.active.has(run.id)) {
    s.report(cell, run.id, 'failed', run.error);
    return 'failed';
  }
  const teacher = cell.mode === 'kd' ? s.runOf(teacherKey(cell)) : null;
  if (isOrphanedStudent(cell, run, teacher, pass.stopped)) return dropOrphanedStudent(s, cell, run, teacher);
  if (pass.active.has(run.id)) {
    await followQueuedRun(s, pass, cell, run, teacher);
    return 'open';
  }
  if (pass.stopped !== null) {
    s.report(cell, run.id, run.status, null);
    return 'settled';
  }
  // Cancelled or interrupted: back on the queue, from its checkpoint, in its own row. A kd run waits for its teacher.
  if (cell.mode === 'kd' && teacher?.status !== 'finished') {
    s.report(cell, run.id, 'waiting', null);
    return 'open';
  }
  s.remote.resume(run.id);
  s.report(cell, run.id, 'queued', null);
  return 'open';
}

/** Ends the sweep with its status and adds the queue jobs that released its kd flows to `releases`, for removal. */
function endSweep(s: RemoteSweep, status: Exclude<SweepStatus, 'running'>, releases: Set<string>): void {
  s.store.sweeps.end(s.sweepId, status, Date.now());
  for (const id of s.store.sweeps.require(s.sweepId).cells.values()) {
    const q = id.runId === null ? null : s.store.queueRuns.get(id.runId);
    if (q?.releaseJob != null) releases.add(q.releaseJob);
  }
}

/** Claims the sweep for this host and keeps its heartbeat going; returns the release. */
function claimSweep(store: Store, sweepId: number): () => void {
  store.sweeps.claim(sweepId, { pid: process.pid, host: hostname() }, Date.now());
  claimRun(store.file, sweepOwnerKey(sweepId));
  const heartbeat = setInterval(() => store.sweeps.touch(sweepId, Date.now()), HEARTBEAT_MS);
  heartbeat.unref();
  return () => {
    clearInterval(heartbeat);
    releaseRun(store.file, sweepOwnerKey(sweepId));
  };
}

/** Asks `stopRequested` once; when the sweep stops, every run the queue still holds for it is cancelled. */
function pollStop(s: RemoteSweep, o: SweepOptions, sweep: SweepRecord, active: Set<number>): Pass['stopped'] {
  const stopped = o.stopRequested?.() ?? null;
  // On an interrupt (the host is quitting) the runs go on on their workers, and the next host follows the sweep again.
  if (stopped === 'cancelled') for (const rec of sweep.cells.values()) if (rec.runId !== null && active.has(rec.runId)) s.remote.cancel(rec.runId);
  return stopped;
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
  const first = store.sweeps.require(sweepId);
  const url = first.queue;
  // Checked before the claim, which would otherwise be left held.
  if (url === null) throw new Error(`sweep ${sweepId} is not on a queue`);
  const release = claimSweep(store, sweepId);
  const s: RemoteSweep = {
    remote,
    store,
    sweepId,
    url,
    spec: first.spec,
    cells: expandGrid(first.spec),
    report: changeReporter(sweepId, o.onProgress),
    runOf: (key) => {
      const id = store.sweeps.require(sweepId).cells.get(key)?.runId;
      return id == null ? null : store.runs.get(id);
    },
  };
  const changes = runChanges(remote.manager);
  const releases = new Set<string>();
  try {
    await remote.link(url);
    const created = await createMissingRuns(s);
    await enqueueNewRuns(s, created);
    const fresh = new Set(created.map((c) => c.runId));
    let stopped: Pass['stopped'] = null;
    for (;;) {
      const sweep = store.sweeps.require(sweepId);
      const active = new Set(remote.active());
      stopped ??= pollStop(s, o, sweep, active);
      if (stopped === 'interrupted') {
        store.sweeps.end(sweepId, 'interrupted', Date.now());
        return 'interrupted';
      }
      const pass: Pass = { sweep, active, stopped, fresh };
      let settled = 0;
      let failed = 0;
      for (const cell of s.cells) {
        const outcome = await advanceCell(s, pass, cell);
        if (outcome !== 'open') settled += 1;
        if (outcome === 'failed') failed += 1;
      }
      if (settled === s.cells.length) {
        const status: SweepStatus = stopped ?? (failed > 0 ? 'failed' : 'finished');
        endSweep(s, status, releases);
        return status;
      }
      await changes.next();
    }
  } finally {
    changes.close();
    release();
    if (releases.size > 0) await remote.removeJobs(url, [...releases]).catch(() => undefined);
  }
}
