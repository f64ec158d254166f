import type { ExportFormat, Precision } from '../../shared/export.js';
import type { BuiltModel } from '../export/pipeline.js';
import type { Store } from '../store/store.js';

/**
 * Records exported models in the history — each model row, its figures and
 * its files as BLOBs — in one transaction. The only database write of an
 * export, kept apart from building, checking and timing, which need no
 * database. Returns the new model ids, in order.
 */
export function recordExport(
  store: Store,
  o: { runId: number; format: ExportFormat; precision: Precision; models: readonly BuiltModel[]; now: Date },
): number[] {
  return store.transaction(() =>
    o.models.map((m) =>
      store.models.insert(
        {
          runId: o.runId,
          network: m.network,
          format: o.format,
          precision: o.precision,
          params: m.params,
          macs: m.macs,
          accuracy: m.accuracy,
          latencyMs: m.latencyMs,
          fullLatencyMs: m.fullLatencyMs,
          fp32LatencyMs: m.fp32LatencyMs,
          fullMacs: m.fullMacs,
          verification: m.verification,
          metadata: m.metadata as unknown as Record<string, unknown>,
          outDir: m.dir,
          files: m.files,
        },
        o.now.getTime(),
      ),
    ),
  );
}
