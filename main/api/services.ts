import { dirname, join } from 'node:path';
import { dataDir, datasetCacheDir } from '../app-paths.js';
import type { Launcher } from '../jobs/host/launcher.js';
import { JobManager } from '../jobs/host/manager.js';
import { RemoteRuns } from '../jobs/host/queue/remote-runs.js';
import { SweepRunner } from '../jobs/host/sweep-runner.js';
import { packageVersion, sampleDatasetPath } from '../package-root.js';
import { keepBackup } from '../store/backup.js';
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
}

/** What the desktop app and the browser shell both run behind the API: the history, the jobs, the handlers. */
export function startServices(o: ServicesOptions): Services {
  // Opening the store checks it for damage (a damaged one opens read-only)
  // and marks runs whose process died as interrupted.
  const store = openStore(o.database, { check: 'read-only' });
  if (store.damage === null) {
    // A fresh backup of a sound history at most a day old, made while the app runs.
    keepBackup(store, BACKUP_AGE_MS).catch((e: unknown) => process.emitWarning(`the history backup failed: ${(e as Error).message}`));
  }
  // Tests of crash handling make every job's engine abort at a given step (never set in normal use).
  const env = o.env ?? process.env;
  const abortAt = env['ADJOIN_TEST_HOOKS'] === '1' ? Number(env['ADJOIN_TEST_ABORT_AT_STEP'] ?? NaN) : NaN;
  const manager = new JobManager(store, {
    runsDir: join(dirname(store.file), 'runs'),
    ...(Number.isInteger(abortAt) ? { testHooks: { abortAtStep: abortAt } } : {}),
    cacheDir: datasetCacheDir(),
    ...(o.concurrency === undefined ? {} : { concurrency: o.concurrency }),
    ...(o.launcher === undefined ? {} : { launcher: o.launcher }),
    ...(o.env === undefined ? {} : { env: o.env }),
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
  return {
    store,
    manager,
    remote,
    handlers,
    close: async () => {
      await sweeps.stopAll();
      await manager.stopAll('checkpoint-and-stop');
      store.close();
    },
  };
}
