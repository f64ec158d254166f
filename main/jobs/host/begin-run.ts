import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { InputError } from '../../../shared/errors.js';
import type { SearchRecord } from '../../../shared/history.js';
import type { TrainConfig } from '../../../shared/train-config.js';
import type { DatasetInput } from '../../../shared/history.js';
import { deathOf, thisProcess } from '../../store/liveness.js';
import type { Store } from '../../store/store.js';
import { recordRun, type RecordOptions, type RunRecorder } from './record-run.js';

export interface BeginRunOptions {
  config: TrainConfig;
  /** A DAN search job (its config is then the super-network's; see superNetworkConfig). */
  search?: SearchRecord | null;
  dataset: DatasetInput | null;
  /** Where the run writes its files; null gives it `<runsDir>/<run id>`. */
  outDir: string | null;
  runsDir: string;
  /** Continue the run recorded for `outDir` (a new row if none was). */
  resume: boolean;
}

export interface BegunRun {
  runId: number;
  outDir: string;
  recorder: RunRecorder;
}

/**
 * Creates (or, on resume, takes back) a run's row before training starts, and
 * returns the recorder the engine's events go through.
 */
export function beginRun(store: Store, o: BeginRunOptions, record: RecordOptions = {}): BegunRun {
  const now = Date.now();
  const { runId, outDir, created } = store.transaction(() => {
    const datasetId = o.dataset === null ? null : store.datasets.upsert(o.dataset, now);
    if (o.resume && o.outDir !== null) {
      const previous = store.runs.findByOutDir(resolve(o.outDir));
      if (previous !== null) {
        if (previous.status === 'queued' || previous.status === 'running') {
          const why = deathOf(store.file, previous.id, previous.owner, thisProcess());
          if (why === null) {
            throw new InputError(`run ${previous.id} in ${resolve(o.outDir)} is still running (pid ${previous.owner.pid})`, 'resume');
          }
        }
        return { runId: previous.id, outDir: resolve(o.outDir), created: false };
      }
    }
    const owner = { pid: process.pid, host: hostname() };
    const search = o.search ?? null;
    const id = store.runs.create(
      { kind: search === null ? 'train' : 'search', config: o.config, search, datasetId, outDir: o.outDir === null ? null : resolve(o.outDir), owner },
      now,
    );
    const dir = o.outDir === null ? join(o.runsDir, String(id)) : resolve(o.outDir);
    store.runs.setOutDir(id, dir);
    return { runId: id, outDir: dir, created: true };
  });
  return { runId, outDir, recorder: recordRun(store, runId, { discardIfUnstarted: created, ...record }) };
}
