import type { EpochEvent, PathMetrics, StepEvent } from '../../shared/events.js';
import type { EpochMetrics, StepMetrics } from '../../shared/history.js';
import type { Db } from './db.js';

interface EpochRow {
  epoch: number;
  train_loss: number;
  train_accuracy_full: number | null;
  train_accuracy_small: number | null;
  val_accuracy_full: number | null;
  val_loss_full: number | null;
  val_accuracy_small: number | null;
  val_loss_small: number | null;
  lambda: number;
  lr: number;
  seconds: number;
  time: number;
}

interface StepRow {
  global_step: number;
  epoch: number;
  step: number;
  loss: number;
  ce: number;
  kl: number | null;
  small_ce: number | null;
  lambda: number;
  lr: number;
  images_per_second: number;
  time: number;
}

export function pathMetrics(accuracy: number | null, loss: number | null): PathMetrics | null {
  return accuracy === null || loss === null ? null : { accuracy, loss };
}

/** Per-epoch metrics and sampled per-step metrics of runs. */
export class Metrics {
  constructor(private readonly db: Db) {}

  /** Replaces the epoch's row: a resumed run redoes the epochs after its checkpoint. */
  putEpoch(runId: number, e: EpochEvent): void {
    this.db
      .prepare(
        `INSERT OR REPLACE INTO epoch_metrics (run_id, epoch, train_loss, train_accuracy_full, train_accuracy_small,
           val_accuracy_full, val_loss_full, val_accuracy_small, val_loss_small, lambda, lr, seconds, time)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        runId,
        e.epoch,
        e.trainLoss,
        e.trainAccuracy.full,
        e.trainAccuracy.small,
        e.val.full?.accuracy ?? null,
        e.val.full?.loss ?? null,
        e.val.small?.accuracy ?? null,
        e.val.small?.loss ?? null,
        e.lambda,
        e.lr,
        e.seconds,
        e.time,
      );
  }

  putStep(runId: number, e: StepEvent): void {
    this.db
      .prepare(
        `INSERT OR REPLACE INTO step_metrics (run_id, global_step, epoch, step, loss, ce, kl, small_ce, lambda, lr, images_per_second, time)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(runId, e.globalStep, e.epoch, e.step, e.loss, e.ce, e.kl, e.smallCe, e.lambda, e.lr, e.imagesPerSecond, e.time);
  }

  /** Forgets what came after a checkpoint: a resumed run records those epochs and steps again. */
  truncateAfter(runId: number, epochsDone: number, globalStep: number): void {
    this.db.prepare('DELETE FROM epoch_metrics WHERE run_id = ? AND epoch > ?').run(runId, epochsDone);
    this.db.prepare('DELETE FROM step_metrics WHERE run_id = ? AND global_step > ?').run(runId, globalStep);
  }

  epochs(runId: number): EpochMetrics[] {
    const rows = this.db.prepare('SELECT * FROM epoch_metrics WHERE run_id = ? ORDER BY epoch').all(runId) as EpochRow[];
    return rows.map((r) => ({
      epoch: r.epoch,
      trainLoss: r.train_loss,
      trainAccuracy: { full: r.train_accuracy_full, small: r.train_accuracy_small },
      val: { full: pathMetrics(r.val_accuracy_full, r.val_loss_full), small: pathMetrics(r.val_accuracy_small, r.val_loss_small) },
      lambda: r.lambda,
      lr: r.lr,
      seconds: r.seconds,
      time: r.time,
    }));
  }

  steps(runId: number): StepMetrics[] {
    const rows = this.db.prepare('SELECT * FROM step_metrics WHERE run_id = ? ORDER BY global_step').all(runId) as StepRow[];
    return rows.map((r) => ({
      globalStep: r.global_step,
      epoch: r.epoch,
      step: r.step,
      loss: r.loss,
      ce: r.ce,
      kl: r.kl,
      smallCe: r.small_ce,
      lambda: r.lambda,
      lr: r.lr,
      imagesPerSecond: r.images_per_second,
      time: r.time,
    }));
  }
}
