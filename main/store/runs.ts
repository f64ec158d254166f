import { decodeJson, oneOf } from '../../shared/decode.js';
import { InputError } from '../../shared/errors.js';
import type { DataInfo, FailureReason, FinishedEvent, PathMetrics, RunOutputs, StartedEvent } from '../../shared/events.js';
import type { Cost } from '../../shared/model/cost.js';
import type { TrainConfig } from '../../shared/train-config.js';
import { confusion, dataInfo, runOutputs, trainConfig } from './codecs.js';
import type { Db } from './db.js';
import type { Owner } from './liveness.js';

export const RUN_STATUSES = ['queued', 'running', 'finished', 'failed', 'cancelled', 'interrupted'] as const;
/**
 * `interrupted`: the process running it died (a crash, a kill, a power cut);
 * its last checkpoint is kept for resume.
 */
export type RunStatus = (typeof RUN_STATUSES)[number];

const FAILURE_REASONS = ['nan_loss', 'error', 'crashed'] as const satisfies readonly FailureReason[];

export interface RunRecord {
  /** Integer ids, never reused (AUTOINCREMENT): a run folder named after one stays unique. */
  id: number;
  datasetId: number | null;
  config: TrainConfig;
  seed: number;
  status: RunStatus;
  failureReason: FailureReason | null;
  error: string | null;
  /** The compute backend (`wasm`, `node`, `gpu`, `cpu`) and the device sentence the engine reported. */
  backend: string | null;
  device: string | null;
  outDir: string | null;
  checkpointPath: string | null;
  data: DataInfo | null;
  cost: { full: Cost; small: Cost | null } | null;
  totalSteps: number | null;
  epochsDone: number;
  val: { full: PathMetrics | null; small: PathMetrics | null };
  confusion: number[][] | null;
  outputs: RunOutputs | null;
  /** Milliseconds since the Unix epoch. */
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  trainSeconds: number | null;
  owner: Owner;
}

interface Row {
  id: number;
  dataset_id: number | null;
  config: string;
  seed: number;
  status: string;
  failure_reason: string | null;
  error: string | null;
  backend: string | null;
  device: string | null;
  out_dir: string | null;
  checkpoint_path: string | null;
  data_info: string | null;
  full_params: number | null;
  full_macs: number | null;
  small_params: number | null;
  small_macs: number | null;
  total_steps: number | null;
  epochs_done: number;
  val_full_accuracy: number | null;
  val_full_loss: number | null;
  val_small_accuracy: number | null;
  val_small_loss: number | null;
  confusion: string | null;
  outputs: string | null;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  train_seconds: number | null;
  owner_pid: number | null;
  owner_host: string | null;
  heartbeat_at: number | null;
}

function metrics(accuracy: number | null, loss: number | null): PathMetrics | null {
  return accuracy === null || loss === null ? null : { accuracy, loss };
}

function fromRow(r: Row): RunRecord {
  const where = `runs[${r.id}]`;
  return {
    id: r.id,
    datasetId: r.dataset_id,
    config: decodeJson(r.config, trainConfig, `${where}.config`),
    seed: r.seed,
    status: oneOf(RUN_STATUSES)(r.status, `${where}.status`),
    failureReason: r.failure_reason === null ? null : oneOf(FAILURE_REASONS)(r.failure_reason, `${where}.failure_reason`),
    error: r.error,
    backend: r.backend,
    device: r.device,
    outDir: r.out_dir,
    checkpointPath: r.checkpoint_path,
    data: r.data_info === null ? null : decodeJson(r.data_info, dataInfo, `${where}.data_info`),
    cost:
      r.full_params === null || r.full_macs === null
        ? null
        : {
            full: { params: r.full_params, macs: r.full_macs },
            small: r.small_params === null || r.small_macs === null ? null : { params: r.small_params, macs: r.small_macs },
          },
    totalSteps: r.total_steps,
    epochsDone: r.epochs_done,
    val: { full: metrics(r.val_full_accuracy, r.val_full_loss), small: metrics(r.val_small_accuracy, r.val_small_loss) },
    confusion: r.confusion === null ? null : decodeJson(r.confusion, confusion, `${where}.confusion`),
    outputs: r.outputs === null ? null : decodeJson(r.outputs, runOutputs, `${where}.outputs`),
    createdAt: r.created_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    trainSeconds: r.train_seconds,
    owner: { pid: r.owner_pid, host: r.owner_host, heartbeatAt: r.heartbeat_at },
  };
}

export interface NewRun {
  config: TrainConfig;
  datasetId: number | null;
  outDir: string | null;
  /** The process that will run it; null for a run queued for later. */
  owner: { pid: number; host: string } | null;
}

/** The runs table: one row per training run, updated as its events arrive. */
export class Runs {
  constructor(
    private readonly db: Db,
    private readonly file: string,
  ) {}

  create(run: NewRun, now: number): number {
    const r = this.db
      .prepare(
        `INSERT INTO runs (dataset_id, config, seed, status, out_dir, created_at, owner_pid, owner_host, heartbeat_at)
         VALUES (?, ?, ?, 'queued', ?, ?, ?, ?, ?) RETURNING id`,
      )
      .get(
        run.datasetId,
        JSON.stringify(run.config),
        run.config.seed,
        run.outDir,
        now,
        run.owner?.pid ?? null,
        run.owner?.host ?? null,
        run.owner === null ? null : now,
      ) as { id: number };
    return r.id;
  }

  get(id: number): RunRecord | null {
    const r = this.db.prepare('SELECT * FROM runs WHERE id = ?').get(id) as Row | undefined;
    return r === undefined ? null : fromRow(r);
  }

  /** The run, or an input error naming the id and the database. */
  require(id: number): RunRecord {
    const run = this.get(id);
    if (run === null) throw new InputError(`there is no run ${id} in ${this.file} (see adjoin runs)`, 'run');
    return run;
  }

  /** Newest first. */
  list(): RunRecord[] {
    return (this.db.prepare('SELECT * FROM runs ORDER BY id DESC').all() as Row[]).map(fromRow);
  }

  /** The newest run that writes to this folder (how `train --resume --out` finds its run). */
  findByOutDir(outDir: string): RunRecord | null {
    const r = this.db.prepare('SELECT * FROM runs WHERE out_dir = ? ORDER BY id DESC LIMIT 1').get(outDir) as Row | undefined;
    return r === undefined ? null : fromRow(r);
  }

  setOutDir(id: number, outDir: string): void {
    this.db.prepare('UPDATE runs SET out_dir = ? WHERE id = ?').run(outDir, id);
  }

  /** A process takes a run (new, or interrupted and resumed): it is queued under that owner. */
  claim(id: number, owner: { pid: number; host: string }, now: number): void {
    this.db
      .prepare(
        `UPDATE runs SET status = 'queued', owner_pid = ?, owner_host = ?, heartbeat_at = ?, error = NULL,
           failure_reason = NULL, finished_at = NULL WHERE id = ?`,
      )
      .run(owner.pid, owner.host, now, id);
  }

  markStarted(id: number, e: StartedEvent): void {
    this.db
      .prepare(
        `UPDATE runs SET status = 'running', config = ?, seed = ?, backend = ?, device = ?, data_info = ?,
           full_params = ?, full_macs = ?, small_params = ?, small_macs = ?, total_steps = ?,
           started_at = coalesce(started_at, ?), heartbeat_at = ? WHERE id = ?`,
      )
      .run(
        JSON.stringify(e.config),
        e.config.seed,
        e.backend.kind,
        e.backend.device,
        JSON.stringify(e.data),
        e.cost.full.params,
        e.cost.full.macs,
        e.cost.small?.params ?? null,
        e.cost.small?.macs ?? null,
        e.totalSteps,
        e.time,
        e.time,
        id,
      );
  }

  /**
   * The owner is alive: refresh its heartbeat. If another process judged it
   * dead meanwhile (its event loop was blocked past the stale limit), it
   * takes the run back.
   */
  touch(id: number, owner: { pid: number; host: string }, now: number): void {
    this.db
      .prepare(
        `UPDATE runs SET heartbeat_at = ?, owner_pid = ?, owner_host = ?,
           status = CASE status WHEN 'interrupted' THEN 'running' ELSE status END,
           error = CASE status WHEN 'interrupted' THEN NULL ELSE error END,
           finished_at = CASE status WHEN 'interrupted' THEN NULL ELSE finished_at END
         WHERE id = ? AND (status IN ('queued', 'running') AND (owner_pid IS NULL OR owner_pid = ?) OR status = 'interrupted')`,
      )
      .run(now, owner.pid, owner.host, id, owner.pid);
  }

  setEpochsDone(id: number, epochs: number): void {
    this.db.prepare('UPDATE runs SET epochs_done = ? WHERE id = ?').run(epochs, id);
  }

  setCheckpoint(id: number, path: string): void {
    this.db.prepare('UPDATE runs SET checkpoint_path = ? WHERE id = ?').run(path, id);
  }

  markFinished(id: number, e: FinishedEvent): void {
    this.db
      .prepare(
        `UPDATE runs SET status = 'finished', val_full_accuracy = ?, val_full_loss = ?, val_small_accuracy = ?, val_small_loss = ?,
           confusion = ?, outputs = ?, finished_at = ?, train_seconds = ?, epochs_done = ?, error = NULL, failure_reason = NULL,
           owner_pid = NULL, owner_host = NULL WHERE id = ?`,
      )
      .run(
        e.val.full.accuracy,
        e.val.full.loss,
        e.val.small?.accuracy ?? null,
        e.val.small?.loss ?? null,
        JSON.stringify(e.confusion),
        e.outputs === null ? null : JSON.stringify(e.outputs),
        e.time,
        e.seconds,
        e.epochs,
        id,
      );
  }

  /** Ends a run as cancelled, failed or interrupted; the checkpoint is kept for resume. */
  markEnded(
    id: number,
    end: { status: 'cancelled' | 'failed'; reason: FailureReason | null; error: string | null; checkpoint: string | null; time: number },
  ): void {
    this.db
      .prepare(
        `UPDATE runs SET status = ?, failure_reason = ?, error = ?, checkpoint_path = coalesce(?, checkpoint_path), finished_at = ?,
           train_seconds = CASE WHEN started_at IS NULL THEN NULL ELSE (? - started_at) / 1000.0 END,
           owner_pid = NULL, owner_host = NULL WHERE id = ?`,
      )
      .run(end.status, end.reason, end.error, end.checkpoint, end.time, end.time, id);
  }

  /** Deletes a run with its metrics, DAN choices and exported models (foreign keys cascade). */
  delete(id: number): void {
    this.db.prepare('DELETE FROM runs WHERE id = ?').run(id);
  }
}
