import { InputError } from '../../shared/errors.js';
import { DanChoices } from './dan-choices.js';
import { Datasets } from './datasets.js';
import type { Db } from './db.js';
import { Metrics } from './metrics.js';
import { Models } from './models.js';
import { QueueRuns } from './queue-runs.js';
import { Runs } from './runs.js';
import { Settings } from './settings.js';
import { Sweeps } from './sweeps.js';

/**
 * The history: one SQLite database, one writer (this module family). The
 * engine never touches it; `jobs` turns engine events into calls here.
 */
export class Store {
  readonly datasets: Datasets;
  readonly runs: Runs;
  readonly metrics: Metrics;
  readonly danChoices: DanChoices;
  readonly models: Models;
  readonly sweeps: Sweeps;
  readonly queueRuns: QueueRuns;
  readonly settings: Settings;

  constructor(
    readonly db: Db,
    /** The database file, as given (shown in messages). */
    readonly file: string,
    /** What a launch check found wrong: the store is then read-only. Null for a sound database. */
    readonly damage: string[] | null = null,
  ) {
    this.datasets = new Datasets(db);
    this.runs = new Runs(db, file);
    this.metrics = new Metrics(db);
    this.danChoices = new DanChoices(db);
    this.models = new Models(db);
    this.sweeps = new Sweeps(db, file);
    this.queueRuns = new QueueRuns(db);
    this.settings = new Settings(db);
  }

  /** Runs `fn` in one transaction (synchronous: better-sqlite3 commits when it returns). */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  /**
   * Runs `fn` with another wait for other programs' write locks (better-sqlite3
   * waits synchronously, so a retry in a server waits briefly), then puts the
   * usual wait back.
   */
  withBusyTimeout<T>(ms: number, fn: () => T): T {
    const usual = this.db.pragma('busy_timeout', { simple: true }) as number;
    this.db.pragma(`busy_timeout = ${Math.max(0, Math.floor(ms))}`);
    try {
      return fn();
    } finally {
      this.db.pragma(`busy_timeout = ${usual}`);
    }
  }

  /** `PRAGMA integrity_check`: ['ok'] for a sound database, else what is wrong. */
  integrityCheck(): string[] {
    return (this.db.pragma('integrity_check') as Array<{ integrity_check: string }>).map((r) => r.integrity_check);
  }

  /** Refuses a change to a damaged (read-only) history, saying why. */
  requireWritable(what: string): void {
    if (this.damage === null) return;
    throw new InputError(
      `cannot ${what}: the history database ${this.file} is damaged (${this.damage[0]}) and open read-only; ` +
        `quit Adjoin and run adjoin db restore <backup> to put back a backup`,
      'db',
    );
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
