import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isAbsolute, resolve } from 'node:path';
import type { ApiCall, ApiRequest, ApiResponse, AppInfo, QueueCheck } from '../../shared/api.js';
import type { BackendKind } from '../../shared/backend.js';
import { InputError } from '../../shared/errors.js';
import type { ModelDetails } from '../../shared/history.js';
import { costReport } from '../../shared/model/cost.js';
import { buildGraph } from '../../shared/model/graph.js';
import { checkSearchConfig, checkTrainConfig } from '../../shared/run-check.js';
import { cellConfig, expandGrid } from '../../shared/sweep.js';
import { deleteRun } from '../jobs/host/delete-run.js';
import { backupFileOf } from '../store/backup.js';
import { exportModels } from '../jobs/host/exports.js';
import type { JobHandle } from '../jobs/host/job-host.js';
import { runOneShot, type OneShotOptions } from '../jobs/host/one-shot.js';
import { forkLauncher, type Launcher } from '../jobs/host/launcher.js';
import type { JobManager } from '../jobs/host/manager.js';
import { RemoteRuns } from '../jobs/host/queue/remote-runs.js';
import type { SweepRunner } from '../jobs/host/sweep-runner.js';
import { modelDetails, runDetails } from '../jobs/host/run-details.js';
import { systemReport } from '../system/doctor.js';
import { checkFolder } from './folder-path.js';
import { rememberedRunOn, rememberRunOn } from './run-on.js';

/** What only the desktop app can do: native dialogs. The browser shell has none. */
export interface NativeShell {
  reveal(path: string): Promise<boolean>;
  chooseFolder(title: string): Promise<string | null>;
}

export interface ApiDeps {
  manager: JobManager;
  /** Runs on queues of remote workers. */
  remote: RemoteRuns;
  sweeps: SweepRunner;
  cacheDir: string;
  dataDir: string;
  shell: 'electron' | 'browser';
  version: string;
  sampleDataset: string | null;
  native: NativeShell | null;
  launcher?: Launcher;
  env?: NodeJS.ProcessEnv;
}

export type ApiHandlers = { [K in ApiCall]: (req: ApiRequest<K>) => Promise<ApiResponse<K>> };

/** Which native TensorFlow packages are installed, without loading them (that is the engine's job). */
function installedBackends(): BackendKind[] {
  const require = createRequire(import.meta.url);
  const has = (name: string): boolean => {
    try {
      require.resolve(`${name}/package.json`);
      return true;
    } catch {
      return false;
    }
  };
  const out: BackendKind[] = [];
  if (has('@tensorflow/tfjs-node-gpu')) out.push('gpu');
  if (has('webgpu')) out.push('webgpu');
  if (has('@tensorflow/tfjs-node')) out.push('node');
  out.push('wasm', 'cpu');
  return out;
}

function absolute(path: string, field: string): string {
  if (path.trim() === '' || !isAbsolute(path)) throw new InputError(`${field} must be an absolute path, got '${path}'`, field);
  return path;
}

/** The handlers of the calls whose names start with one of `Domain` (`runs` gives `runs:start`, `runs:list`, …). */
type HandlersOf<Domain extends string> = Pick<ApiHandlers, Extract<ApiCall, `${Domain}:${string}`>>;

/** The options every one-shot job of the API starts with: dataset imports report their progress to all windows. */
function oneShotOptions(deps: ApiDeps): OneShotOptions {
  return {
    launcher: deps.launcher,
    env: deps.env,
    onImportProgress: (path, progress) => deps.manager.publish({ type: 'dataset:progress', path, progress }),
  };
}

/** Scanning, importing (one at a time per folder, cancellable) and nothing else: datasets are opened by the jobs that use them. */
function datasetHandlers(deps: ApiDeps, oneShot: OneShotOptions): HandlersOf<'dataset'> {
  const imports = new Map<string, JobHandle>();
  return {
    'dataset:scan': async ({ path }) => runOneShot({ kind: 'scan', path: await checkFolder(path) }, oneShot),
    'dataset:import': async ({ path: given, settings }) => {
      const path = await checkFolder(given);
      if (imports.has(path)) throw new InputError(`${path} is already being imported`, 'path');
      try {
        return await runOneShot({ kind: 'import', path, settings, cacheDir: deps.cacheDir }, { ...oneShot, onStart: (h) => imports.set(path, h) });
      } finally {
        imports.delete(path);
      }
    },
    'dataset:cancel-import': async ({ path }) => {
      const handle = imports.get(path);
      handle?.stop('cancel');
      return { cancelled: handle !== undefined };
    },
  };
}

/** Exports a run's models and returns them as the history now records them. */
async function exportRun(deps: ApiDeps, oneShot: OneShotOptions, req: ApiRequest<'runs:export'>): Promise<ModelDetails[]> {
  const { runId, format, precision, fp16, full, outDir, calibration, maxDrop, uint8Input, overwrite } = req;
  const store = deps.manager.store;
  const exported = await exportModels(
    store,
    {
      runId,
      format,
      precision: precision ?? (fp16 === true ? 'fp16' : 'fp32'),
      full,
      // Stored as it is meant: `/a/out/../b` is `/b`.
      outDir: resolve(absolute(outDir, 'outDir')),
      overwrite: overwrite === true,
      cacheDir: deps.cacheDir,
      ...(calibration === undefined ? {} : { calibration }),
      ...(maxDrop === undefined ? {} : { maxDrop }),
      ...(uint8Input === undefined ? {} : { uint8Input }),
    },
    oneShot,
  );
  return exported.map((m): ModelDetails => {
    const record = store.models.list(runId).find((r) => r.id === m.id);
    if (record === undefined) throw new Error(`export ${m.id} of run ${runId} is missing from the history`);
    return modelDetails(store, record);
  });
}

/** Runs, here or on a queue, from start to export; and the cost estimate the Train screen shows before a run starts. */
function runHandlers(deps: ApiDeps, oneShot: OneShotOptions): HandlersOf<'runs' | 'model'> {
  const { manager, remote } = deps;
  const store = manager.store;
  return {
    'model:estimate': async ({ model, alpha }) => costReport(buildGraph(model), alpha),
    'runs:start': async ({ data: given, config, queue }) => {
      store.requireWritable('start a run');
      // On a queue the workers read the data at this path too: it is read here first, for its content key.
      const data = { ...given, path: await checkFolder(given.path) };
      checkTrainConfig(config);
      if (queue !== undefined) return { runId: await remote.submit({ queue, data, config }) };
      return { runId: manager.startTrain(data, config) };
    },
    'runs:search': async ({ data: given, config, thenTrain, queue }) => {
      store.requireWritable('start a search');
      const data = { ...given, path: await checkFolder(given.path) };
      checkSearchConfig(config);
      if (queue !== undefined) return { runId: await remote.submit({ queue, data, ...RemoteRuns.searchRecord(config, thenTrain) }) };
      return { runId: manager.startSearch(data, config, thenTrain) };
    },
    'runs:cancel': async ({ runId }) => ({ status: manager.cancel(runId) }),
    'runs:resume': async ({ runId }) => {
      store.requireWritable('resume a run');
      return { runId: manager.resume(runId) };
    },
    'runs:list': async () => store.runs.list(),
    'runs:show': async ({ runId }) => runDetails(store, runId),
    'runs:delete': async ({ runId }) => {
      store.requireWritable('delete a run');
      if (manager.activeRuns().includes(runId)) throw new InputError(`run ${runId} is running; cancel it before deleting it`, 'run');
      deleteRun(store, runId);
      return { deleted: true };
    },
    'runs:export': async (req) => exportRun(deps, oneShot, req),
  };
}

function sweepHandlers(deps: ApiDeps): HandlersOf<'sweeps'> {
  const { sweeps, remote } = deps;
  const store = deps.manager.store;
  return {
    'sweeps:start': async ({ spec, queue }) => {
      store.requireWritable('start a sweep');
      const path = await checkFolder(spec.data.path);
      for (const cell of expandGrid(spec)) checkTrainConfig(cellConfig(spec, cell, cell.mode === 'kd' ? { network: 'teacher', runId: 0 } : null));
      // A queue that cannot be reached (or refuses the password) is refused here, before the sweep is recorded.
      if (queue !== undefined) await remote.link(queue);
      return { sweepId: sweeps.start({ ...spec, data: { ...spec.data, path } }, queue ?? null) };
    },
    'sweeps:list': async () => sweeps.list(),
    'sweeps:show': async ({ sweepId }) => sweeps.view(sweepId),
    'sweeps:cancel': async ({ sweepId }) => ({ stopping: sweeps.cancel(sweepId) }),
    'sweeps:resume': async ({ sweepId }) => {
      store.requireWritable('resume a sweep');
      return { sweepId: sweeps.resume(sweepId) };
    },
  };
}

/** The app itself and the machine it runs on: its info, the system report, the queues it can run on. */
function systemHandlers(deps: ApiDeps): HandlersOf<'app' | 'system' | 'queue'> {
  const { manager, remote } = deps;
  const store = manager.store;
  return {
    'app:info': async (): Promise<AppInfo> => ({
      version: deps.version,
      shell: deps.shell,
      platform: process.platform,
      backends: installedBackends(),
      sampleDataset: deps.sampleDataset !== null && existsSync(deps.sampleDataset) ? deps.sampleDataset : null,
      dataDir: deps.dataDir,
      database: store.file,
      databaseDamage: store.damage,
      databaseBackup: existsSync(backupFileOf(store.file)) ? backupFileOf(store.file) : null,
      historyWrites: manager.writer.state,
      nativeDialogs: deps.native !== null,
      runOn: rememberedRunOn(store),
    }),
    // Probed in a process of its own, started like a job, so the app is never the one to load a native library that aborts.
    'system:report': async () =>
      systemReport({
        launcher: deps.launcher ?? forkLauncher,
        env: deps.env ?? process.env,
        database: store.file,
        cacheDir: deps.cacheDir,
        version: deps.version,
        electron: process.versions['electron'] ?? null,
      }),
    'queue:check': async ({ url }): Promise<QueueCheck> => {
      const link = await remote.link(url);
      const workers = await link.workers();
      return {
        queue: link.address.shown,
        redisVersion: link.server.version,
        appendOnly: link.server.appendOnly,
        workers: workers.map((w) => ({ name: w.name, host: w.host, backend: w.backend, cores: w.cores, concurrency: w.concurrency, running: w.jobs.length })),
      };
    },
    'queue:remember': async (choice) => rememberRunOn(store, choice),
  };
}

/** What needs the desktop app's native dialogs; the browser shell refuses it with a line that says what to do instead. */
function nativeHandlers(native: NativeShell | null): HandlersOf<'shell' | 'dialog'> {
  return {
    'shell:reveal': async ({ path }) => {
      if (native === null) throw new InputError('revealing folders needs the desktop app', 'path');
      return { shown: await native.reveal(absolute(path, 'path')) };
    },
    'dialog:choose-folder': async ({ title }) => {
      if (native === null) throw new InputError('the folder picker needs the desktop app; type the folder path instead', 'path');
      return { path: await native.chooseFolder(title) };
    },
  };
}

/**
 * The API's implementation, shared by the desktop app (IPC) and the browser
 * shell (WebSocket). Requests arrive already validated against the contract.
 */
export function createApi(deps: ApiDeps): ApiHandlers {
  const oneShot = oneShotOptions(deps);
  return {
    ...systemHandlers(deps),
    ...datasetHandlers(deps, oneShot),
    ...runHandlers(deps, oneShot),
    ...sweepHandlers(deps),
    ...nativeHandlers(deps.native),
  };
}
