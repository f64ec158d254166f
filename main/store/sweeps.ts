import { sweepSpec } from '../../shared/config-codecs.js';
import { decodeJson, oneOf } from '../../shared/decode.js';
import type { Owner } from '../../shared/history.js';
import { SWEEP_STATUSES, type SweepSpec, type SweepStatus } from '../../shared/sweep.js';
import { insertReturningId, type Db } from './db.js';
import { deathOf, sweepOwnerKey, type LivenessProbe } from './liveness.js';
import { InputError } from '../../shared/errors.js';

export interface SweepRecord {
  id: number;
  spec: SweepSpec;
  status: SweepStatus;
  createdAt: number;
  finishedAt: number | null;
  owner: Owner;
  /** The queue its runs go to (its URL, password included, to reconnect); null for a sweep on this machine. */
  queue: string | null;
  /** Each cell's run (null until started) and why it could not run, if so. */
  cells: Map<string, { runId: number | null; error: string | null }>;
}

interface Row {
  id: number;
  spec: string;
  status: string;
  created_at: number;
  finished_at: number | null;
  owner_pid: number | null;
  owner_host: string | null;
  heartbeat_at: number | null;
  queue_url?: string | null;
}

/** Sweeps and the runs of their cells. */
export class Sweeps {
  constructor(
    private readonly db: Db,
    private readonly file: string,
  ) {}

  create(spec: SweepSpec, owner: { pid: number; host: string }, now: number, queue: string | null = null): number {
    return insertReturningId(
      this.db,
      `INSERT INTO sweeps (spec, status, created_at, owner_pid, owner_host, heartbeat_at, queue_url) VALUES (?, 'running', ?, ?, ?, ?, ?) RETURNING id`,
      JSON.stringify(spec),
      now,
      owner.pid,
      owner.host,
      now,
      queue,
    );
  }

  private fromRow(r: Row): SweepRecord {
    const cells = new Map<string, { runId: number | null; error: string | null }>();
    const rows = this.db.prepare('SELECT cell_key, run_id, error FROM sweep_cells WHERE sweep_id = ?').all(r.id) as Array<{
      cell_key: string;
      run_id: number | null;
      error: string | null;
    }>;
    for (const c of rows) cells.set(c.cell_key, { runId: c.run_id, error: c.error });
    return {
      id: r.id,
      spec: decodeJson(r.spec, sweepSpec, `sweeps[${r.id}].spec`),
      status: oneOf(SWEEP_STATUSES)(r.status, `sweeps[${r.id}].status`),
      createdAt: r.created_at,
      finishedAt: r.finished_at,
      owner: { pid: r.owner_pid, host: r.owner_host, heartbeatAt: r.heartbeat_at },
      queue: r.queue_url ?? null,
      cells,
    };
  }

  get(id: number): SweepRecord | null {
    const r = this.db.prepare('SELECT * FROM sweeps WHERE id = ?').get(id) as Row | undefined;
    return r === undefined ? null : this.fromRow(r);
  }

  require(id: number): SweepRecord {
    const s = this.get(id);
    if (s === null) throw new InputError(`there is no sweep ${id} in ${this.file} (see adjoin sweep list)`, 'sweep');
    return s;
  }

  /** Newest first. */
  list(): SweepRecord[] {
    return (this.db.prepare('SELECT * FROM sweeps ORDER BY id DESC').all() as Row[]).map((r) => this.fromRow(r));
  }

  setCell(sweepId: number, key: string, runId: number | null, error: string | null): void {
    this.db.prepare('INSERT OR REPLACE INTO sweep_cells (sweep_id, cell_key, run_id, error) VALUES (?, ?, ?, ?)').run(sweepId, key, runId, error);
  }

  /** A process takes the sweep (new, or resumed): it runs under that owner. */
  claim(id: number, owner: { pid: number; host: string }, now: number): void {
    this.db
      .prepare(`UPDATE sweeps SET status = 'running', owner_pid = ?, owner_host = ?, heartbeat_at = ?, finished_at = NULL WHERE id = ?`)
      .run(owner.pid, owner.host, now, id);
  }

  touch(id: number, now: number): void {
    this.db.prepare('UPDATE sweeps SET heartbeat_at = ? WHERE id = ?').run(now, id);
  }

  end(id: number, status: Exclude<SweepStatus, 'running'>, now: number): void {
    this.db.prepare('UPDATE sweeps SET status = ?, finished_at = ?, owner_pid = NULL, owner_host = NULL WHERE id = ?').run(status, now, id);
  }

  /** Sweeps whose process died are interrupted; `adjoin sweep resume` continues them. */
  recoverInterrupted(probe: LivenessProbe): number[] {
    const rows = this.db.prepare(`SELECT * FROM sweeps WHERE status = 'running'`).all() as Row[];
    const marked: number[] = [];
    for (const r of rows) {
      const owner = { pid: r.owner_pid, host: r.owner_host, heartbeatAt: r.heartbeat_at };
      if (deathOf(this.file, sweepOwnerKey(r.id), owner, probe) === null) continue;
      this.db.prepare(`UPDATE sweeps SET status = 'interrupted', owner_pid = NULL, owner_host = NULL WHERE id = ? AND status = 'running'`).run(r.id);
      marked.push(r.id);
    }
    return marked;
  }
}
