import type { DanEpoch } from '../store/dan-choices.js';
import type { DatasetRecord } from '../store/datasets.js';
import type { EpochMetrics, StepMetrics } from '../store/metrics.js';
import type { ModelRecord } from '../store/models.js';
import type { RunRecord } from '../store/runs.js';
import type { Store } from '../store/store.js';

export interface ModelDetails extends ModelRecord {
  /** full MACs / small MACs, for the small network of an adjoined run. */
  macRatio: number | null;
  /** full latency / small latency, measured in the same session. */
  latencySpeedup: number | null;
  /** Whether every stored file still matches its SHA-256. */
  integrity: 'ok' | 'corrupted';
  corruptedFiles: string[];
}

export interface RunDetails {
  run: RunRecord;
  dataset: DatasetRecord | null;
  epochs: EpochMetrics[];
  steps: StepMetrics[];
  danChoices: DanEpoch[];
  models: ModelDetails[];
}

export function modelDetails(store: Store, m: ModelRecord): ModelDetails {
  const check = store.models.check(m.id);
  const corrupted = check.filter((c) => !c.ok).map((c) => c.name);
  return {
    ...m,
    macRatio: m.fullMacs === null ? null : m.fullMacs / m.macs,
    latencySpeedup: m.fullLatencyMs === null || m.latencyMs === null ? null : m.fullLatencyMs / m.latencyMs,
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
