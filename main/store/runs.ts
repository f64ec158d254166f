import { decodeJson, oneOf } from '../../shared/decode.js';
import { InputError } from '../../shared/errors.js';
import type { FailureReason, FinishedEvent, PathMetrics, SearchEpochEvent, SearchResultEvent, SearchStartedEvent, StartedEvent } from '../../shared/events.js';
import type { TrainConfig } from '../../shared/train-config.js';
import { backendInfo, confusion, dataInfo, runOutputs, searchRecord, trainConfig } from './codecs.js';
import { insertReturningId, type Db } from './db.js';
import { pathMetrics } from './metrics.js';
import { RUN_KINDS, RUN_STATUSES, type RunKind, type RunRecord, type SearchRecord } from '../../shared/history.js';

const FAILURE_REASONS = ['nan_loss', 'error', 'crashed'] as const satisfies readonly FailureReason[];

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
  backend_info: string | null;
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
  kind: string;
  search: string | null;
  worker_name?: string | null;
  worker_host?: string | null;
}

function fromRow(r: Row): RunRecord {
  const where = `runs[${r.id}]`;
  return {
    id: r.id,
    kind: oneOf(RUN_KINDS)(r.kind, `${where}.kind`),
    datasetId: r.dataset_id,
    config: decodeJson(r.config, trainConfig, `${where}.config`),
    search: r.search === null ? null : decodeJson(r.search, searchRecord, `${where}.search`),
    seed: r.seed,
    status: oneOf(RUN_STATUSES)(r.status, `${where}.status`),
    failureReason: r.failure_reason === null ? null : oneOf(FAILURE_REASONS)(r.failure_reason, `${where}.failure_reason`),
    error: r.error,
    backend: r.backend,
    device: r.device,
    backendInfo: r.backend_info === null ? null : decodeJson(r.backend_info, backendInfo, `${where}.backend_info`),
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
    val: { full: pathMetrics(r.val_full_accuracy, r.val_full_loss), small: pathMetrics(r.val_small_accuracy, r.val_small_loss) },
    confusion: r.confusion === null ? null : decodeJson(r.confusion, confusion, `${where}.confusion`),
    outputs: r.outputs === null ? null : decodeJson(r.outputs, runOutputs, `${where}.outputs`),
    createdAt: r.created_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    trainSeconds: r.train_seconds,
    owner: { pid: r.owner_pid, host: r.owner_host, heartbeatAt: r.heartbeat_at },
    worker: r.worker_name == null ? null : { name: r.worker_name, host: r.worker_host ?? '' },
  };
}

export interface NewRun {
  /** Default `train`. */
  kind?: RunKind;
  /** The network the run trains (for a search: the super-network, until the search ends). */
  config: TrainConfig;
  /** A search run's search; omitted for training runs. */
  search?: SearchRecord | null;
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
    return insertReturningId(
      this.db,
      `INSERT INTO runs (kind, search, dataset_id, config, seed, status, out_dir, created_at, owner_pid, owner_host, heartbeat_at)
       VALUES (?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?) RETURNING id`,
      run.kind ?? 'train',
      run.search == null ? null : JSON.stringify(run.search),
      run.datasetId,
      JSON.stringify(run.config),
      run.config.seed,
      run.outDir,
      now,
      run.owner?.pid ?? null,
      run.owner?.host ?? null,
      run.owner === null ? null : now,
    );
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

  /** Links the run to the data it opened (known once its job has read it). */
  setDataset(id: number, datasetId: number): void {
    this.db.prepare('UPDATE runs SET dataset_id = ? WHERE id = ?').run(datasetId, id);
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
        `UPDATE runs SET status = 'running', config = ?, seed = ?, backend = ?, device = ?, backend_info = ?, data_info = ?,
           full_params = ?, full_macs = ?, small_params = ?, small_macs = ?, total_steps = ?,
           started_at = coalesce(started_at, ?), heartbeat_at = ? WHERE id = ?`,
      )
      .run(
        JSON.stringify(e.config),
        e.config.seed,
        e.backend.kind,
        e.backend.device,
        JSON.stringify(e.backend),
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

  /** A search began: it runs, on this backend, over this data, within this full network. */
  markSearchStarted(id: number, e: SearchStartedEvent): void {
    this.db
      .prepare(
        `UPDATE runs SET status = 'running', backend = ?, device = ?, backend_info = ?, data_info = ?, full_params = ?, full_macs = ?,
           started_at = coalesce(started_at, ?), heartbeat_at = ? WHERE id = ?`,
      )
      .run(e.backend.kind, e.backend.device, JSON.stringify(e.backend), JSON.stringify(e.data), e.full.params, e.full.macs, e.time, e.time, id);
  }

  /** A search epoch's budget figures, kept with the search (a resumed epoch replaces its earlier record). */
  addSearchEpoch(id: number, e: SearchEpochEvent): void {
    const run = this.require(id);
    // Only a search run keeps search figures.
    if (run.search === null) return;
    const epochs = (run.search.epochs ?? []).filter((d) => d.epoch !== e.epoch);
    epochs.push({ epoch: e.epoch, tau: e.tau, expectedMacs: e.expectedMacs, target: e.target, penalty: e.penalty });
    const search: SearchRecord = { ...run.search, epochs };
    this.db.prepare('UPDATE runs SET search = ? WHERE id = ?').run(JSON.stringify(search), id);
  }

  /** The search's answer: the α map and the cost of the network it gives, the argmax before projection, the projection and the warnings. */
  setSearchResult(id: number, e: SearchResultEvent): void {
    const run = this.require(id);
    if (run.search === null) throw new Error(`run ${id} is not a search`);
    const result = { alphas: e.alphas, cost: e.cost, argmax: e.argmax, projection: e.projection, warnings: e.warnings };
    const search: SearchRecord = { ...run.search, result };
    this.db
      .prepare('UPDATE runs SET search = ?, small_params = ?, small_macs = ? WHERE id = ?')
      .run(JSON.stringify(search), e.cost.small.params, e.cost.small.macs, id);
  }

  /** A search without a training phase ends with its result. */
  markSearchFinished(id: number, e: SearchResultEvent, val: { full: PathMetrics | null; small: PathMetrics | null }): void {
    this.db
      .prepare(
        `UPDATE runs SET status = 'finished', val_full_accuracy = ?, val_full_loss = ?, val_small_accuracy = ?, val_small_loss = ?,
           finished_at = ?, train_seconds = ?, error = NULL, failure_reason = NULL, owner_pid = NULL, owner_host = NULL WHERE id = ?`,
      )
      .run(val.full?.accuracy ?? null, val.full?.loss ?? null, val.small?.accuracy ?? null, val.small?.loss ?? null, e.time, e.seconds, id);
  }

  /** The queue worker that trains (or trained) the run. */
  setWorker(id: number, worker: { name: string; host: string }): void {
    this.db.prepare('UPDATE runs SET worker_name = ?, worker_host = ? WHERE id = ?').run(worker.name, worker.host, id);
  }

  /** A run on a queue whose engine is at work on a worker: running, whoever follows it. */
  markRunning(id: number): void {
    this.db.prepare(`UPDATE runs SET status = 'running' WHERE id = ? AND status IN ('queued', 'interrupted') AND started_at IS NOT NULL`).run(id);
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
        e.val.full?.accuracy ?? null,
        e.val.full?.loss ?? null,
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
