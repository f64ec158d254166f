import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isAbsolute } from 'node:path';
import type { ApiCall, ApiRequest, ApiResponse, AppInfo } from '../../shared/api.js';
import type { BackendKind } from '../../shared/backend.js';
import type { DatasetRecord, DatasetScan } from '../../shared/dataset.js';
import { InputError, type SerializedError } from '../../shared/errors.js';
import type { ModelDetails } from '../../shared/history.js';
import { costReport } from '../../shared/model/cost.js';
import { buildGraph } from '../../shared/model/graph.js';
import { expandGrid } from '../../shared/sweep.js';
import { deleteRun } from '../jobs/delete-run.js';
import { backupFileOf } from '../store/backup.js';
import type { ExportedModel } from '../jobs/export-run.js';
import { hostJob, type JobHandle, type JobResult } from '../jobs/job-host.js';
import type { JobSpec } from '../jobs/job-spec.js';
import type { Launcher } from '../jobs/launcher.js';
import type { JobManager } from '../jobs/manager.js';
import type { SweepRunner } from '../jobs/sweep-runner.js';
import { modelDetails, runDetails } from '../jobs/run-details.js';
import { checkFolder } from './folder-path.js';

/** What only the desktop app can do: native dialogs. The browser shell has none. */
export interface NativeShell {
  reveal(path: string): Promise<boolean>;
  chooseFolder(title: string): Promise<string | null>;
}

export interface ApiDeps {
  manager: JobManager;
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
  if (has('@tensorflow/tfjs-node')) out.push('node');
  out.push('wasm', 'cpu');
  return out;
}

function absolute(path: string, field: string): string {
  if (path.trim() === '' || !isAbsolute(path)) throw new InputError(`${field} must be an absolute path, got '${path}'`, field);
  return path;
}

class JobFailed extends Error {
  constructor(readonly error: SerializedError) {
    super(error.message);
    this.name = error.name;
  }
}

/**
 * The API's implementation, shared by the desktop app (IPC) and the browser
 * shell (WebSocket). Requests arrive already validated against the contract.
 */
export function createApi(deps: ApiDeps): ApiHandlers {
  const { manager, sweeps } = deps;
  const store = manager.store;
  const imports = new Map<string, JobHandle>();

  /** Runs a scan, an import or an export in a job process; its result, or its error. */
  const job = async (spec: JobSpec, onStart?: (h: JobHandle) => void): Promise<unknown> => {
    const handle = hostJob(spec, {
      onEvent: () => undefined,
      onImportProgress: (path, progress) => manager.publish({ type: 'dataset:progress', path, progress }),
      ...(deps.launcher === undefined ? {} : { launcher: deps.launcher }),
      ...(deps.env === undefined ? {} : { env: deps.env }),
    });
    onStart?.(handle);
    const result: JobResult = await handle.done;
    switch (result.status) {
      case 'finished':
        return result.value;
      case 'error':
        throw new JobFailed(result.error);
      case 'crashed':
        throw new JobFailed({ name: 'EngineCrash', message: `${result.message} while working on ${'path' in spec ? spec.path : 'the export'}` });
      case 'cancelled':
        throw new InputError('cancelled', 'data');
      case 'failed':
        throw new JobFailed({ name: 'JobFailed', message: result.message });
    }
  };

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
      nativeDialogs: deps.native !== null,
    }),
    'dataset:scan': async ({ path }) => (await job({ kind: 'scan', path: await checkFolder(path) })) as DatasetScan,
    'dataset:import': async ({ path: given, settings }) => {
      const path = await checkFolder(given);
      if (imports.has(path)) throw new InputError(`${path} is already being imported`, 'path');
      try {
        return (await job({ kind: 'import', path, settings, cacheDir: deps.cacheDir }, (h) => imports.set(path, h))) as DatasetRecord;
      } finally {
        imports.delete(path);
      }
    },
    'dataset:cancel-import': async ({ path }) => {
      const handle = imports.get(path);
      handle?.stop('cancel');
      return { cancelled: handle !== undefined };
    },
    'model:estimate': async ({ model, alpha }) => costReport(buildGraph(model), alpha),
    'runs:start': async ({ data: given, config }) => {
      store.requireWritable('start a run');
      const data = { ...given, path: await checkFolder(given.path) };
      // Building the graph checks what field validation cannot (a width or α that empties a layer).
      costReport(buildGraph(config.model), config.mode === 'standard' ? null : config.alpha);
      return { runId: manager.startTrain(data, config) };
    },
    'runs:search': async ({ data: given, config, thenTrain }) => {
      store.requireWritable('start a search');
      const data = { ...given, path: await checkFolder(given.path) };
      buildGraph(config.model);
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
    'runs:export': async ({ runId, format, precision, fp16, full, outDir, calibration, maxDrop, uint8Input }) => {
      store.requireWritable('export a model');
      store.runs.require(runId);
      const spec: JobSpec = {
        kind: 'export',
        database: store.file,
        runId,
        format,
        precision: precision ?? (fp16 === true ? 'fp16' : 'fp32'),
        full,
        outDir: absolute(outDir, 'outDir'),
        ...(calibration === undefined ? {} : { calibration }),
        ...(maxDrop === undefined ? {} : { maxDrop }),
        ...(uint8Input === undefined ? {} : { uint8Input }),
      };
      const exported = (await job(spec)) as ExportedModel[];
      return exported.map((m): ModelDetails => {
        const record = store.models.list(runId).find((r) => r.id === m.id);
        if (record === undefined) throw new Error(`export ${m.id} of run ${runId} is missing from the history`);
        return modelDetails(store, record);
      });
    },
    'sweeps:start': async ({ spec }) => {
      store.requireWritable('start a sweep');
      const path = await checkFolder(spec.data.path);
      for (const cell of expandGrid(spec)) costReport(buildGraph(spec.model), cell.alpha);
      return { sweepId: sweeps.start({ ...spec, data: { ...spec.data, path } }) };
    },
    'sweeps:list': async () => sweeps.list(),
    'sweeps:show': async ({ sweepId }) => sweeps.view(sweepId),
    'sweeps:cancel': async ({ sweepId }) => ({ stopping: sweeps.cancel(sweepId) }),
    'sweeps:resume': async ({ sweepId }) => {
      store.requireWritable('resume a sweep');
      return { sweepId: sweeps.resume(sweepId) };
    },
    'shell:reveal': async ({ path }) => {
      if (deps.native === null) throw new InputError('revealing folders needs the desktop app', 'path');
      return { shown: await deps.native.reveal(absolute(path, 'path')) };
    },
    'dialog:choose-folder': async ({ title }) => {
      if (deps.native === null) throw new InputError('the folder picker needs the desktop app; type the folder path instead', 'path');
      return { path: await deps.native.chooseFolder(title) };
    },
  };
}
