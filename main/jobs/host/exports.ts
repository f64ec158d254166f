import { resolve } from 'node:path';
import { checkExportOptions, type ExportFormat, type Precision } from '../../../shared/export.js';
import type { Store } from '../../store/store.js';
import type { ExportResult } from '../job-spec.js';
import { runOneShot, type OneShotOptions } from './one-shot.js';

/** An exported network as the history now holds it: the job's result, with its id and its files' sizes instead of their bytes. */
export type ExportedModel = Omit<ExportResult, 'files' | 'metadata' | 'fullMacs' | 'createdAt'> & {
  id: number;
  files: Array<{ name: string; bytes: number }>;
};

export interface ExportRequest {
  runId: number;
  format: ExportFormat;
  precision: Precision;
  full: boolean;
  outDir: string;
  /** Replace files of the same names that Adjoin did not write (else the export is refused before anything is built). */
  overwrite?: boolean;
  cacheDir: string;
  /** int8: training images to calibrate on. */
  calibration?: number;
  /** int8: the largest accepted drop of validation accuracy against float32, in points. */
  maxDrop?: number;
  /** int8: the model takes uint8 input. */
  uint8Input?: boolean;
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
            fp32LatencyMs: r.fp32LatencyMs,
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
  // Bad settings are refused before a job is started.
  checkExportOptions(req);
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
      ...(req.calibration === undefined ? {} : { calibration: req.calibration }),
      ...(req.maxDrop === undefined ? {} : { maxDrop: req.maxDrop }),
      ...(req.uint8Input === undefined ? {} : { uint8Input: req.uint8Input }),
    },
    o,
  );
  return recordExport(store, run.id, results, outDir);
}
