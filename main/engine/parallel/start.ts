import type { BackendInfo } from '../../../shared/backend.js';
import { Replicas, trainWorkers } from './replicas.js';

type ReplicaSpec = Omit<Parameters<typeof Replicas.start>[0], 'count' | 'backend'>;

/**
 * The replicas of a run, if it trains data-parallel: none on one core or a
 * native backend. A replica that cannot start leaves the run on one engine
 * (slower, the same result) rather than failing it.
 */
export async function startReplicas(backend: BackendInfo, requested: number | null, spec: ReplicaSpec): Promise<Replicas | null> {
  const count = trainWorkers(backend.kind, requested);
  if (count < 2) return null;
  try {
    return await Replicas.start({ ...spec, count, backend: backend.kind });
  } catch (e) {
    process.emitWarning(`training on one engine: the other engines did not start (${e instanceof Error ? e.message : String(e)})`);
    return null;
  }
}

/** The backend as a run reports it, with the number of engines training it. */
export function withEngines(backend: BackendInfo, engines: number): BackendInfo {
  return engines < 2 ? backend : { ...backend, device: `${backend.device}, ${engines} engines in parallel` };
}
