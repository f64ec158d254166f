import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { dataDir, datasetCacheDir } from '../app-paths.js';
import type { Launcher } from '../jobs/host/launcher.js';
import { JobManager } from '../jobs/host/manager.js';
import { RemoteRuns } from '../jobs/host/queue/remote-runs.js';
import { SweepRunner } from '../jobs/host/sweep-runner.js';
import { testHooksFromEnv } from '../jobs/test-hooks.js';
import { packageVersion, sampleDatasetPath } from '../package-root.js';
import { keepBackup } from '../store/backup.js';
import { lockHistory, type HistoryLock } from '../store/history-lock.js';
import { openStore } from '../store/open.js';
import type { Store } from '../store/store.js';
import { createApi, type ApiHandlers, type NativeShell } from './handlers.js';

/** How old the automatic backup of the history may get before a launch refreshes it. */
const BACKUP_AGE_MS = 24 * 3_600_000;

export interface Services {
  store: Store;
  manager: JobManager;
  remote: RemoteRuns;
  handlers: ApiHandlers;
  /** Quitting: running jobs checkpoint and stop, then the history closes. */
  close(): Promise<void>;
}

export interface ServicesOptions {
  /** The history database; its folder also holds `runs/`. */
  database: string;
  shell: 'electron' | 'browser';
  native: NativeShell | null;
  launcher?: Launcher;
  concurrency?: number;
  env?: NodeJS.ProcessEnv;
  /** How soon the history writer retries a refused write (tests make it quick). */
  retryDelay?: (attempt: number) => number;
}

/**
 * Opens the history with its marker held: the app or the server holds the
 * marker while it has the history open, taken before opening, so a restore
 * can never swap the file under it. A sound history gets a fresh backup.
 */
function openLockedHistory(o: ServicesOptions): { store: Store; lock: HistoryLock } {
  try {
    mkdirSync(dirname(o.database), { recursive: true });
  } catch {
    // openStore says what is wrong with the folder.
  }
  const lock = lockHistory(o.database, o.shell === 'electron' ? 'the desktop app' : 'adjoin serve', 'open the history');
  let store: Store;
  try {
    // Opening the store checks it for damage (a damaged one opens read-only)
    // and marks runs whose process died as interrupted.
    store = openStore(o.database, { check: 'read-only' });
  } catch (e) {
    lock.release();
    throw e;
  }
  if (store.damage === null) {
    // A fresh backup of a sound history at most a day old, made while the app runs.
    keepBackup(store, BACKUP_AGE_MS).catch((e: unknown) => process.emitWarning(`the history backup failed: ${(e as Error).message}`));
  }
  return { store, lock };
}

/** The job manager, the queue's runs and the sweeps; on a sound history, what a host that has gone left on a queue is followed again. */
function startJobs(store: Store, o: ServicesOptions): { manager: JobManager; remote: RemoteRuns; sweeps: SweepRunner } {
  // Tests of crash and write-failure handling make every job's engine abort or wait at a given step (never set in normal use).
  const testHooks = testHooksFromEnv(o.env ?? process.env);
  const manager = new JobManager(store, {
    runsDir: join(dirname(store.file), 'runs'),
    ...(testHooks === undefined ? {} : { testHooks }),
    cacheDir: datasetCacheDir(),
    ...(o.concurrency === undefined ? {} : { concurrency: o.concurrency }),
    ...(o.launcher === undefined ? {} : { launcher: o.launcher }),
    ...(o.env === undefined ? {} : { env: o.env }),
    ...(o.retryDelay === undefined ? {} : { retryDelay: o.retryDelay }),
  });
  const remote = new RemoteRuns(manager, {
    runsDir: join(dirname(store.file), 'runs'),
    cacheDir: datasetCacheDir(),
    ...(o.launcher === undefined ? {} : { launcher: o.launcher }),
    ...(o.env === undefined ? {} : { env: o.env }),
    onWarning: (message) => process.emitWarning(message),
  });
  const sweeps = new SweepRunner(manager, remote);
  if (store.damage === null) {
    // Runs and sweeps left on a queue by a host that has gone went on on the workers: follow them again.
    void remote.followAgain();
    sweeps.followAgain();
  }
  return { manager, remote, sweeps };
}

/** Quitting: sweeps and jobs stop (runs checkpoint), the history writer gets a last chance, then the history closes and its marker goes. */
async function closeServices(store: Store, lock: HistoryLock, manager: JobManager, sweeps: SweepRunner): Promise<void> {
  await sweeps.stopAll();
  await manager.stopAll('checkpoint-and-stop');
  // The last chance for what the history refused meanwhile (a run's end among it).
  manager.writer.close();
  if (!manager.writer.flush()) {
    const s = manager.writer.state;
    const why = s.state === 'failing' ? s.reason : 'unknown';
    process.emitWarning(
      `${manager.writer.pending} updates of ${store.file} could not be written (${why}); ` +
        'runs whose end is among them will show as interrupted next time, resumable from their checkpoints',
    );
  }
  store.close();
  lock.release();
}

/** What the desktop app and the browser shell both run behind the API: the history, the jobs, the handlers. */
export function startServices(o: ServicesOptions): Services {
  const { store, lock } = openLockedHistory(o);
  const { manager, remote, sweeps } = startJobs(store, o);
  const handlers = createApi({
    manager,
    remote,
    sweeps,
    cacheDir: datasetCacheDir(),
    dataDir: dataDir(),
    shell: o.shell,
    version: packageVersion(),
    sampleDataset: sampleDatasetPath(),
    native: o.native,
    ...(o.launcher === undefined ? {} : { launcher: o.launcher }),
    ...(o.env === undefined ? {} : { env: o.env }),
  });
  return { store, manager, remote, handlers, close: () => closeServices(store, lock, manager, sweeps) };
}
