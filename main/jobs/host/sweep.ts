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
  type SweepStatus,
  type SweepView,
} from '../../../shared/sweep.js';
import { claimRun, HEARTBEAT_MS, releaseRun, sweepOwnerKey } from '../../store/liveness.js';
import type { Store } from '../../store/store.js';
import type { JobManager } from './manager.js';

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

/**
 * Runs (or continues) a sweep: every cell gets exactly one run. Cells whose
 * run finished are kept; interrupted or cancelled runs continue from their
 * checkpoint in the same row; failed runs are reported, not repeated; a kd
 * cell waits for the standard run of its seed to finish (its teacher). The
 * manager runs as many at once as its concurrency allows.
 */
export async function runSweep(manager: JobManager, sweepId: number, o: SweepOptions = {}): Promise<SweepStatus> {
  const store = manager.store;
  const owner = { pid: process.pid, host: hostname() };
  store.sweeps.claim(sweepId, owner, Date.now());
  claimRun(store.file, sweepOwnerKey(sweepId));
  // A heartbeat the history refuses (locked, full) is skipped, never thrown from the timer.
  const heartbeat = setInterval(
    () => manager.writer.write(`heartbeat of sweep ${sweepId}`, () => store.sweeps.touch(sweepId, Date.now()), { onlyIfIdle: true }),
    HEARTBEAT_MS,
  );
  heartbeat.unref();
  const spec = store.sweeps.require(sweepId).spec;
  const cells = expandGrid(spec);
  const reported = new Map<string, string>();
  const report = (cell: SweepCell, runId: number | null, state: CellState, error: string | null): void => {
    const sig = `${runId}:${state}:${error}`;
    if (reported.get(cell.key) === sig) return;
    reported.set(cell.key, sig);
    o.onProgress?.({ sweepId, cell, runId, state, error });
  };

  let wake: (() => void) | null = null;
  const unsubscribe = manager.subscribe((e) => {
    if (e.type === 'runs:changed') wake?.();
  });
  let stopped: 'cancelled' | 'interrupted' | null = null;
  try {
    for (;;) {
      const sweep = store.sweeps.require(sweepId);
      const active = new Set(manager.activeRuns());
      if (stopped === null) {
        stopped = o.stopRequested?.() ?? null;
        // Only this sweep's runs stop: the manager may be running others (the app's).
        if (stopped !== null) {
          for (const rec of sweep.cells.values()) if (rec.runId !== null && active.has(rec.runId)) manager.cancel(rec.runId);
        }
      }
      const runOf = (key: string): RunRecord | null => {
        const id = sweep.cells.get(key)?.runId;
        return id == null ? null : store.runs.get(id);
      };
      let settled = 0;
      let failed = 0;
      for (const cell of cells) {
        const rec = sweep.cells.get(cell.key);
        const run = runOf(cell.key);
        if (run !== null) {
          if (run.status === 'finished') {
            settled += 1;
            report(cell, run.id, 'finished', null);
          } else if (run.status === 'failed') {
            settled += 1;
            failed += 1;
            report(cell, run.id, 'failed', run.error);
          } else if (active.has(run.id)) {
            report(cell, run.id, run.status === 'running' ? 'running' : 'queued', null);
          } else if (stopped !== null) {
            settled += 1;
            report(cell, run.id, run.status, null);
          } else {
            // Interrupted (its process died), cancelled, or left queued: continue it in its own row.
            manager.resume(run.id, spec.data);
            report(cell, run.id, 'queued', null);
          }
          continue;
        }
        if (rec?.error != null) {
          settled += 1;
          failed += 1;
          report(cell, null, 'blocked', rec.error);
          continue;
        }
        if (stopped !== null) {
          settled += 1;
          continue;
        }
        let teacher: { network: string; runId: number } | null = null;
        if (cell.mode === 'kd') {
          const t = runOf(teacherKey(cell));
          const teacherFailed = t?.status === 'failed' || sweep.cells.get(teacherKey(cell))?.error != null;
          if (teacherFailed) {
            const error = `its teacher, the standard run of seed ${cell.seed}, failed`;
            store.sweeps.setCell(sweepId, cell.key, null, error);
            settled += 1;
            failed += 1;
            report(cell, null, 'blocked', error);
            continue;
          }
          if (t === null || t.status !== 'finished' || t.outputs === null) {
            report(cell, null, 'waiting', null);
            continue;
          }
          teacher = { network: t.outputs.network, runId: t.id };
        }
        const runId = manager.startTrain(spec.data, cellConfig(spec, cell, teacher));
        store.sweeps.setCell(sweepId, cell.key, runId, null);
        report(cell, runId, 'queued', null);
      }
      if (settled === cells.length) {
        const status: SweepStatus = stopped ?? (failed > 0 ? 'failed' : 'finished');
        store.sweeps.end(sweepId, status, Date.now());
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
  }
}
