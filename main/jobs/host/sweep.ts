import { hostname } from 'node:os';
import type { RunRecord } from '../../../shared/history.js';
import { redactQueueUrl } from '../../../shared/queue-url.js';
import {
  cellConfig,
  expandGrid,
  summarize,
  teacherKey,
  type CellProgress,
  type CellResult,
  type CellState,
  type SweepCell,
  type SweepSpec,
  type SweepStatus,
  type SweepView,
} from '../../../shared/sweep.js';
import { claimRun, HEARTBEAT_MS, releaseRun, sweepOwnerKey } from '../../store/liveness.js';
import type { Store } from '../../store/store.js';
import type { SweepRecord } from '../../store/sweeps.js';
import type { JobManager } from './manager.js';
import { changeReporter, runChanges, type CellOutcome, type CellReporter } from './sweep-loop.js';

/** A finished run's figures, by network: a run only has the networks it trained. */
export function cellResult(cell: SweepCell, run: RunRecord): CellResult {
  return {
    cell,
    runId: run.id,
    full: run.val.full?.accuracy ?? null,
    small: run.val.small?.accuracy ?? null,
    fullCost: run.val.full !== null && run.cost !== null ? run.cost.full : null,
    smallCost: run.val.small !== null ? (run.cost?.small ?? null) : null,
    seconds: run.trainSeconds,
  };
}

/** The sweep as the history has it; `active` holds the runs a job manager has queued or running. */
export function sweepView(store: Store, sweepId: number, active: ReadonlySet<number> = new Set()): SweepView {
  const sweep = store.sweeps.require(sweepId);
  const cells = expandGrid(sweep.spec).map((cell) => {
    const rec = sweep.cells.get(cell.key);
    const run = rec?.runId == null ? null : store.runs.get(rec.runId);
    let state: CellState = run === null ? (rec?.error != null ? 'blocked' : 'waiting') : run.status;
    // A run resumed but not yet started still has its old (stopped) status in its row.
    if (run !== null && active.has(run.id) && state !== 'running' && state !== 'finished') state = 'queued';
    // On a queue a kd run is recorded before its teacher finishes, and waits for it there.
    if (run !== null && state === 'queued' && cell.mode === 'kd' && run.startedAt === null) {
      const teacher = sweep.cells.get(teacherKey(cell))?.runId;
      if (teacher != null && store.runs.get(teacher)?.status !== 'finished') state = 'waiting';
    }
    return { cell, runId: run?.id ?? null, state, error: rec?.error ?? run?.error ?? null, run };
  });
  const results = cells.filter((c) => c.run !== null && c.run.status === 'finished').map((c) => cellResult(c.cell, c.run!));
  return {
    sweepId,
    status: sweep.status,
    createdAt: sweep.createdAt,
    finishedAt: sweep.finishedAt,
    spec: sweep.spec,
    queue: sweep.queue === null ? null : redactQueueUrl(sweep.queue),
    cells: cells.map(({ cell, runId, state, error }) => ({ cell, runId, state, error })),
    results,
    stats: summarize(results),
  };
}

export interface SweepOptions {
  onProgress?: (p: CellProgress) => void;
  /**
   * Polled between cell updates. A status stops the sweep: its runs stop
   * after their current step (they checkpoint) and the sweep ends with that
   * status — `cancelled` when the user stopped it, `interrupted` when the
   * app is quitting. Either way a later resume continues it.
   */
  stopRequested?: () => 'cancelled' | 'interrupted' | null;
}

/** What every step of a sweep on this machine needs. */
interface LocalSweep {
  manager: JobManager;
  store: Store;
  sweepId: number;
  spec: SweepSpec;
  report: CellReporter;
}

/** One pass over the cells: the sweep as the history has it now and the runs the manager holds. */
interface Pass {
  sweep: SweepRecord;
  active: Set<number>;
  stopped: 'cancelled' | 'interrupted' | null;
}

/** Claims the sweep for this host and keeps its heartbeat going; returns the release. */
function claimSweep(manager: JobManager, sweepId: number): () => void {
  const store = manager.store;
  store.sweeps.claim(sweepId, { pid: process.pid, host: hostname() }, Date.now());
  claimRun(store.file, sweepOwnerKey(sweepId));
  // A heartbeat the history refuses (locked, full) is skipped, never thrown from the timer.
  const heartbeat = setInterval(
    () => manager.writer.write(`heartbeat of sweep ${sweepId}`, () => store.sweeps.touch(sweepId, Date.now()), { onlyIfIdle: true }),
    HEARTBEAT_MS,
  );
  heartbeat.unref();
  return () => {
    clearInterval(heartbeat);
    releaseRun(store.file, sweepOwnerKey(sweepId));
  };
}

/** Asks `stopRequested` once; when the sweep stops, its runs are cancelled — only its own: the manager may be running others (the app's). */
function pollStop(manager: JobManager, o: SweepOptions, sweep: SweepRecord, active: Set<number>): Pass['stopped'] {
  const stopped = o.stopRequested?.() ?? null;
  if (stopped !== null) {
    for (const rec of sweep.cells.values()) if (rec.runId !== null && active.has(rec.runId)) manager.cancel(rec.runId);
  }
  return stopped;
}

/** A cell that has a run: kept when it finished or failed, followed while the manager holds it, continued otherwise. */
function followRun(s: LocalSweep, pass: Pass, cell: SweepCell, run: RunRecord): CellOutcome {
  if (run.status === 'finished') {
    s.report(cell, run.id, 'finished', null);
    return 'settled';
  }
  if (run.status === 'failed') {
    s.report(cell, run.id, 'failed', run.error);
    return 'failed';
  }
  if (pass.active.has(run.id)) {
    s.report(cell, run.id, run.status === 'running' ? 'running' : 'queued', null);
    return 'open';
  }
  if (pass.stopped !== null) {
    s.report(cell, run.id, run.status, null);
    return 'settled';
  }
  // Interrupted (its process died), cancelled, or left queued: continue it in its own row.
  s.manager.resume(run.id, s.spec.data);
  s.report(cell, run.id, 'queued', null);
  return 'open';
}

/** A kd cell's teacher once its standard run has finished; `failed` when that run failed or was blocked, `waiting` until then. */
function teacherOf(s: LocalSweep, pass: Pass, cell: SweepCell): { network: string; runId: number } | 'failed' | 'waiting' {
  const t = runOf(s.store, pass.sweep, teacherKey(cell));
  if (t?.status === 'failed' || pass.sweep.cells.get(teacherKey(cell))?.error != null) return 'failed';
  if (t === null || t.status !== 'finished' || t.outputs === null) return 'waiting';
  return { network: t.outputs.network, runId: t.id };
}

/** Starts a cell's run; a kd cell waits for its teacher, or is blocked when its teacher failed. */
function startCell(s: LocalSweep, pass: Pass, cell: SweepCell): CellOutcome {
  const teacher = cell.mode === 'kd' ? teacherOf(s, pass, cell) : null;
  if (teacher === 'failed') {
    const error = `its teacher, the standard run of seed ${cell.seed}, failed`;
    s.store.sweeps.setCell(s.sweepId, cell.key, null, error);
    s.report(cell, null, 'blocked', error);
    return 'failed';
  }
  if (teacher === 'waiting') {
    s.report(cell, null, 'waiting', null);
    return 'open';
  }
  const runId = s.manager.startTrain(s.spec.data, cellConfig(s.spec, cell, teacher));
  s.store.sweeps.setCell(s.sweepId, cell.key, runId, null);
  s.report(cell, runId, 'queued', null);
  return 'open';
}

/** The run recorded for a cell in this pass's view of the sweep. */
function runOf(store: Store, sweep: SweepRecord, key: string): RunRecord | null {
  const id = sweep.cells.get(key)?.runId;
  return id == null ? null : store.runs.get(id);
}

/** Brings one cell a step forward and says whether it has settled; a stopping sweep starts no new run. */
function advanceCell(s: LocalSweep, pass: Pass, cell: SweepCell): CellOutcome {
  const rec = pass.sweep.cells.get(cell.key);
  const run = runOf(s.store, pass.sweep, cell.key);
  if (run !== null) return followRun(s, pass, cell, run);
  if (rec?.error != null) {
    s.report(cell, null, 'blocked', rec.error);
    return 'failed';
  }
  if (pass.stopped !== null) return 'settled';
  return startCell(s, pass, cell);
}

/**
 * Runs (or continues) a sweep: every cell gets exactly one run. Cells whose
 * run finished are kept; interrupted or cancelled runs continue from their
 * checkpoint in the same row; failed runs are reported, not repeated; a kd
 * cell waits for the standard run of its seed to finish (its teacher). The
 * manager runs as many at once as its concurrency allows.
 */
export async function runSweep(manager: JobManager, sweepId: number, o: SweepOptions = {}): Promise<SweepStatus> {
  const store = manager.store;
  const release = claimSweep(manager, sweepId);
  const spec = store.sweeps.require(sweepId).spec;
  const cells = expandGrid(spec);
  const s: LocalSweep = { manager, store, sweepId, spec, report: changeReporter(sweepId, o.onProgress) };
  const changes = runChanges(manager);
  let stopped: Pass['stopped'] = null;
  try {
    for (;;) {
      const sweep = store.sweeps.require(sweepId);
      const active = new Set(manager.activeRuns());
      stopped ??= pollStop(manager, o, sweep, active);
      const pass: Pass = { sweep, active, stopped };
      let settled = 0;
      let failed = 0;
      for (const cell of cells) {
        const outcome = advanceCell(s, pass, cell);
        if (outcome !== 'open') settled += 1;
        if (outcome === 'failed') failed += 1;
      }
      if (settled === cells.length) {
        const status: SweepStatus = stopped ?? (failed > 0 ? 'failed' : 'finished');
        store.sweeps.end(sweepId, status, Date.now());
        return status;
      }
      await changes.next();
    }
  } finally {
    changes.close();
    release();
  }
}
