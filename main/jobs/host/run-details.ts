import type { ModelDetails, ModelRecord, RunDetails } from '../../../shared/history.js';
import type { Store } from '../../store/store.js';

/** The note an export left in its metadata when int8 did not pay. */
function speedNote(metadata: Record<string, unknown>): string | null {
  const c = metadata['comparison'];
  if (typeof c !== 'object' || c === null) return null;
  const note = (c as Record<string, unknown>)['note'];
  return typeof note === 'string' ? note : null;
}

export function modelDetails(store: Store, m: ModelRecord): ModelDetails {
  const check = store.models.check(m.id);
  const corrupted = check.filter((c) => !c.ok).map((c) => c.name);
  return {
    ...m,
    macRatio: m.fullMacs === null ? null : m.fullMacs / m.macs,
    latencySpeedup: m.fullLatencyMs === null || m.latencyMs === null ? null : m.fullLatencyMs / m.latencyMs,
    speedupOverFp32: m.fp32LatencyMs === null || m.latencyMs === null ? null : m.fp32LatencyMs / m.latencyMs,
    speedNote: speedNote(m.metadata),
    integrity: corrupted.length === 0 ? 'ok' : 'corrupted',
    corruptedFiles: corrupted,
  };
}

/** Everything the history knows about one run, its stored exports checked against their SHA-256. */
export function runDetails(store: Store, runId: number): RunDetails {
  const run = store.runs.require(runId);
  return {
    run,
    dataset: run.datasetId === null ? null : store.datasets.get(run.datasetId),
    epochs: store.metrics.epochs(runId),
    steps: store.metrics.steps(runId),
    danChoices: store.danChoices.list(runId),
    models: store.models.list(runId).map((m) => modelDetails(store, m)),
  };
}
