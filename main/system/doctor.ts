import { existsSync, statfsSync } from 'node:fs';
import { dirname } from 'node:path';
import type { FolderReport, HistoryReport, SystemReport } from '../../shared/system.js';
import type { Launcher } from '../jobs/host/launcher.js';
import { checkFile } from '../store/backup.js';
import { runProbe } from './probe.js';

export interface ReportOptions {
  launcher: Launcher;
  /** The environment a job would get (ADJOIN_BACKEND, VK_ICD_FILENAMES…). */
  env: NodeJS.ProcessEnv;
  /** The history database checked, and whose folder is the data folder. */
  database: string;
  cacheDir: string;
  version: string;
  /** Electron's version when the report is made by the desktop app. */
  electron?: string | null;
}

/** Free space on the file system holding `path` (or its nearest existing parent). */
function folder(what: FolderReport['what'], path: string): FolderReport {
  let probe = path;
  while (!existsSync(probe) && dirname(probe) !== probe) probe = dirname(probe);
  try {
    const fs = statfsSync(probe);
    return { what, path, exists: existsSync(path), freeBytes: fs.bavail * fs.bsize, error: null };
  } catch (e) {
    return { what, path, exists: existsSync(path), freeBytes: null, error: (e as Error).message };
  }
}

function history(path: string): HistoryReport {
  if (!existsSync(path)) return { path, exists: false, integrity: null, error: null };
  try {
    return { path, exists: true, integrity: checkFile(path), error: null };
  } catch (e) {
    return { path, exists: true, integrity: null, error: (e as Error).message };
  }
}

/**
 * The system report of `adjoin doctor` and the app's System view. Backends,
 * adapters and native modules are probed in a separate process started the
 * way jobs are, so they are what a run would meet; folders and the history
 * are checked here.
 */
export async function systemReport(o: ReportOptions): Promise<SystemReport> {
  const probe = await runProbe(o.launcher, o.env);
  const integrity = history(o.database);
  return {
    adjoin: o.version,
    node: probe.runtime?.node ?? process.versions.node,
    electron: o.electron ?? probe.runtime?.electron ?? null,
    platform: process.platform,
    arch: process.arch,
    abi: probe.runtime?.abi ?? process.versions.modules,
    requested: probe.requested,
    chosen: probe.chosen,
    backends: probe.backends,
    adapters: probe.adapters,
    vulkanDrivers: probe.vulkanDrivers,
    nativeModules: probe.modules,
    folders: [folder('data', dirname(o.database)), folder('cache', o.cacheDir)],
    history: integrity,
    ok: probe.requested.problem === null,
  };
}
