import { existsSync, rmSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { InputError } from '../../../shared/errors.js';
import { deathOf, thisProcess } from '../../store/liveness.js';
import type { Store } from '../../store/store.js';

/** Whether `dir` is a run folder Adjoin made itself (`<database folder>/runs/<id>`), so it may delete it. */
function ownedFolder(dbFile: string, dir: string, runId: number): boolean {
  return relative(join(dirname(dbFile), 'runs'), dir) === String(runId);
}

export interface Deleted {
  models: number;
  /** The run's folder: removed if Adjoin made it, kept if the user chose it. */
  folder: { path: string; removed: boolean } | null;
}

/**
 * Removes a run from the history with its metrics and stored exports (and
 * its folder if Adjoin created it). A run still owned by a live process is
 * refused: stop it first.
 */
export function deleteRun(store: Store, id: number): Deleted {
  const run = store.runs.require(id);
  if ((run.status === 'running' || run.status === 'queued') && deathOf(store.file, id, run.owner, thisProcess()) === null) {
    throw new InputError(`run ${id} is ${run.status} (pid ${run.owner.pid ?? '?'}); stop it before deleting it`, 'run');
  }
  const models = store.models.list(id).length;
  store.runs.delete(id);
  if (run.outDir === null || !existsSync(run.outDir)) return { models, folder: null };
  const removed = ownedFolder(store.file, run.outDir, id);
  if (removed) rmSync(run.outDir, { recursive: true, force: true });
  return { models, folder: { path: run.outDir, removed } };
}
