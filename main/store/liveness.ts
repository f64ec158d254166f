import { hostname } from 'node:os';
import { resolve } from 'node:path';
import type { Owner } from '../../shared/history.js';
import type { Db } from './db.js';
import { pidAlive } from '../pid-alive.js';

/**
 * Who is running a run. A process that records a run writes its pid and host
 * into the row and refreshes `heartbeat_at` while it lives; whoever opens the
 * store next (app, server or CLI) decides from these whether the owner died.
 */

/** How often a live owner refreshes its heartbeat. */
export const HEARTBEAT_MS = 5_000;

/**
 * A heartbeat older than this means the owner is gone even if a process with
 * its pid exists (the pid was reused) or it ran on another host (a database
 * on a shared disk). Generous, because training blocks the event loop during
 * evaluation; an owner that was wrongly judged dead takes its run back on its
 * next event (see `Runs.touch`).
 */
export const STALE_MS = 15 * 60_000;

export interface LivenessProbe {
  pid: number;
  host: string;
  now: () => number;
  /** Whether a process with this pid exists on this host. */
  isAlive: (pid: number) => boolean;
  /** Whether this very process is recording the run (a dead process may have had our pid). */
  ownsRun: (file: string, runId: number) => boolean;
}

export { pidAlive };

/** Runs this process is recording, per database file. */
const owned = new Map<string, Set<number>>();

export function claimRun(file: string, runId: number): void {
  const key = resolve(file);
  let set = owned.get(key);
  if (set === undefined) owned.set(key, (set = new Set()));
  set.add(runId);
}

export function releaseRun(file: string, runId: number): void {
  owned.get(resolve(file))?.delete(runId);
}

/**
 * Sweeps have owners too. They share the registry under negative ids, which
 * no run has (run ids are positive AUTOINCREMENT integers).
 */
export const sweepOwnerKey = (sweepId: number): number => -sweepId;

export function thisProcess(): LivenessProbe {
  return {
    pid: process.pid,
    host: hostname(),
    now: Date.now,
    isAlive: pidAlive,
    ownsRun: (file, runId) => owned.get(resolve(file))?.has(runId) ?? false,
  };
}

/** Why the owner of a run is judged dead, or null if it may still be alive. */
export function deathOf(file: string, runId: number, owner: Owner, probe: LivenessProbe): string | null {
  const { pid, host, heartbeatAt } = owner;
  if (pid === null) return 'it was recorded before run owners were tracked';
  const stale = heartbeatAt === null || probe.now() - heartbeatAt > STALE_MS;
  const where = `pid ${pid} on ${host ?? 'an unknown host'}`;
  if (host !== probe.host) return stale ? `its process (${where}) has not been heard from since ${iso(heartbeatAt)}` : null;
  if (pid === probe.pid) return probe.ownsRun(file, runId) ? null : `its process (${where}) is gone`;
  if (!probe.isAlive(pid)) return `its process (${where}) is gone`;
  return stale ? `its process (${where}) has not been heard from since ${iso(heartbeatAt)}` : null;
}

function iso(ms: number | null): string {
  return ms === null ? 'it started' : new Date(ms).toISOString();
}

interface LiveRow {
  id: number;
  status: 'queued' | 'running';
  owner_pid: number | null;
  owner_host: string | null;
  heartbeat_at: number | null;
  checkpoint_path: string | null;
}

/**
 * Runs a queue of remote workers trains: their life does not depend on the
 * process that follows them, so the death of that process interrupts nothing
 * (the next host to open the history follows them again).
 */
function onQueue(db: Db): string {
  const table = db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'queue_runs'`).get();
  return table === undefined ? '' : ' AND id NOT IN (SELECT run_id FROM queue_runs WHERE settled_at IS NULL)';
}

/**
 * Marks runs whose owner died as `interrupted`, keeping their last checkpoint
 * for resume. Queued runs nobody has claimed yet (no owner) are left queued,
 * and so are runs on a queue. Returns the ids it marked.
 */
export function recoverInterrupted(db: Db, file: string, probe: LivenessProbe): number[] {
  return db
    .transaction(() => {
      const rows = db
        .prepare(`SELECT id, status, owner_pid, owner_host, heartbeat_at, checkpoint_path FROM runs WHERE status IN ('queued', 'running')${onQueue(db)}`)
        .all() as LiveRow[];
      const marked: number[] = [];
      const mark = db.prepare(
        `UPDATE runs SET status = 'interrupted', error = ?, finished_at = coalesce(heartbeat_at, started_at, created_at),
           owner_pid = NULL, owner_host = NULL WHERE id = ? AND status IN ('queued', 'running')`,
      );
      for (const r of rows) {
        if (r.status === 'queued' && r.owner_pid === null) continue;
        const why = deathOf(file, r.id, { pid: r.owner_pid, host: r.owner_host, heartbeatAt: r.heartbeat_at }, probe);
        if (why === null) continue;
        const resume = r.checkpoint_path === null ? 'it had no checkpoint yet' : `resume it from ${r.checkpoint_path}`;
        mark.run(`interrupted: ${why}; ${resume}`, r.id);
        marked.push(r.id);
      }
      return marked;
    })
    .immediate();
}
