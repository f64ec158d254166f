import type { Db } from './db.js';

/** A run handed to a queue of remote workers, and how far its story has been read into the history. */
export interface QueueRunRecord {
  runId: number;
  /** The queue's URL, password included: what is needed to follow the run again after a restart. */
  url: string;
  jobId: string;
  /** Each resubmission (a resume) is a new job: 1, 2, 3… */
  generation: number;
  /** For a kd run released by a flow: the job that puts it on the queue once its teacher has finished. */
  releaseJob: string | null;
  /** Lines of the job's log already applied to the history. */
  linesApplied: number;
  /** The latest attempt seen (an older attempt's late lines are ignored). */
  attempt: number;
  /** The run's folder on the worker of that attempt: its events' paths start with it. */
  workerDir: string | null;
  /** When the job went on the queue (for a kd run in a flow: when the flow did); null before. */
  submittedAt: number | null;
  /** When the history took the run's last line and files, and the queue let go of it; null while it is followed. */
  settledAt: number | null;
}

interface Row {
  run_id: number;
  queue_url: string;
  job_id: string;
  generation: number;
  release_job: string | null;
  lines_applied: number;
  attempt: number;
  worker_dir: string | null;
  submitted_at: number | null;
  settled_at: number | null;
}

function fromRow(r: Row): QueueRunRecord {
  return {
    runId: r.run_id,
    url: r.queue_url,
    jobId: r.job_id,
    generation: r.generation,
    releaseJob: r.release_job,
    linesApplied: r.lines_applied,
    attempt: r.attempt,
    workerDir: r.worker_dir,
    submittedAt: r.submitted_at,
    settledAt: r.settled_at,
  };
}

/** The runs a queue trains: one row per run, its job and how far its log was read. */
export class QueueRuns {
  constructor(private readonly db: Db) {}

  create(runId: number, url: string, jobId: string, generation: number, releaseJob: string | null): void {
    this.db
      .prepare('INSERT INTO queue_runs (run_id, queue_url, job_id, generation, release_job) VALUES (?, ?, ?, ?, ?)')
      .run(runId, url, jobId, generation, releaseJob);
  }

  get(runId: number): QueueRunRecord | null {
    const r = this.db.prepare('SELECT * FROM queue_runs WHERE run_id = ?').get(runId) as Row | undefined;
    return r === undefined ? null : fromRow(r);
  }

  /** The run's queue record; an error if it was never given to a queue. */
  require(runId: number): QueueRunRecord {
    const q = this.get(runId);
    if (q === null) throw new Error(`run ${runId} was not given to a queue`);
    return q;
  }

  /** Runs still followed: their last line or files are not in the history yet. */
  unsettled(): QueueRunRecord[] {
    return (this.db.prepare('SELECT * FROM queue_runs WHERE settled_at IS NULL ORDER BY run_id').all() as Row[]).map(fromRow);
  }

  markSubmitted(runId: number, now: number): void {
    this.db.prepare('UPDATE queue_runs SET submitted_at = ? WHERE run_id = ?').run(now, runId);
  }

  /** How far the job's log has been applied; in the same transaction as what the lines wrote. */
  setProgress(runId: number, linesApplied: number, attempt: number, workerDir: string | null): void {
    this.db.prepare('UPDATE queue_runs SET lines_applied = ?, attempt = ?, worker_dir = ? WHERE run_id = ?').run(linesApplied, attempt, workerDir, runId);
  }

  /** The run goes on the queue again (resumed): a new job, read from its first line. */
  resubmit(runId: number, url: string, jobId: string, generation: number, releaseJob: string | null): void {
    this.db
      .prepare(
        `UPDATE queue_runs SET queue_url = ?, job_id = ?, generation = ?, release_job = ?, lines_applied = 0, attempt = 0,
           worker_dir = NULL, submitted_at = NULL, settled_at = NULL WHERE run_id = ?`,
      )
      .run(url, jobId, generation, releaseJob, runId);
  }

  settle(runId: number, now: number): void {
    this.db.prepare('UPDATE queue_runs SET settled_at = ? WHERE run_id = ?').run(now, runId);
  }
}
