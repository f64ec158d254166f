import { resolve } from 'node:path';
import type { ExportFormat, ExportNetwork, Precision, VerificationReport } from '../../../shared/export.js';
import type { Store } from '../../store/store.js';
import type { ExportResult } from '../job-spec.js';
import { runOneShot, type OneShotOptions } from './one-shot.js';

/** An exported network as the history now holds it. */
export interface ExportedModel {
  id: number;
  network: ExportNetwork;
  format: ExportFormat;
  precision: Precision;
  dir: string;
  files: Array<{ name: string; bytes: number }>;
  params: number;
  macs: number;
  accuracy: number | null;
  latencyMs: number | null;
  fullLatencyMs: number | null;
  macRatio: number | null;
  latencySpeedup: number | null;
  verification: VerificationReport;
}

export interface ExportRequest {
  runId: number;
  format: ExportFormat;
  precision: Precision;
  full: boolean;
  outDir: string;
  /** Replace files of the same names that Adjoin did not write (else the export is refused before anything is built). */
  overwrite?: boolean;
  cacheDir: string;
}

/** Records what an export job wrote: every model with its files as BLOBs, in one transaction. */
export function recordExport(store: Store, runId: number, results: readonly ExportResult[], outDir: string): ExportedModel[] {
  let ids: number[];
  try {
    ids = store.transaction(() =>
      results.map((r) =>
        store.models.insert(
          {
            runId,
            network: r.network,
            format: r.format,
            precision: r.precision,
            params: r.params,
            macs: r.macs,
            accuracy: r.accuracy,
            latencyMs: r.latencyMs,
            fullLatencyMs: r.fullLatencyMs,
            fullMacs: r.fullMacs,
            verification: r.verification,
            metadata: { ...r.metadata },
            outDir: r.dir,
            files: r.files,
          },
          r.createdAt,
        ),
      ),
    );
  } catch (e) {
    throw new Error(`the export was written to ${outDir} but could not be recorded in ${store.file}: ${(e as Error).message}`);
  }
  return results.map(({ files, metadata: _metadata, fullMacs: _fullMacs, createdAt: _createdAt, ...r }, i) => ({
    id: ids[i]!,
    ...r,
    files: files.map((f) => ({ name: f.name, bytes: f.data.byteLength })),
  }));
}

/**
 * Exports a finished run: the history's record of it goes to an export job
 * (which builds, checks, times and writes the files in its own process), and
 * what it wrote is recorded here, by the one process that writes the history.
 */
export async function exportModels(store: Store, req: ExportRequest, o: OneShotOptions = {}): Promise<ExportedModel[]> {
  store.requireWritable('export a model');
  const run = store.runs.require(req.runId);
  const dataset = run.datasetId === null ? null : store.datasets.get(run.datasetId);
  const outDir = resolve(req.outDir);
  const results = await runOneShot(
    {
      kind: 'export',
      run,
      dataset,
      format: req.format,
      precision: req.precision,
      full: req.full,
      outDir,
      overwrite: req.overwrite === true,
      cacheDir: req.cacheDir,
    },
    o,
  );
  return recordExport(store, run.id, results, outDir);
}
