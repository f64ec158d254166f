import { datasetCacheDir } from '../../main/app-paths.js';
import { recordExport, type ExportedModel, type ExportRequest } from '../../main/jobs/host/exports.js';
import { exportRun, type ExportRunOptions } from '../../main/jobs/worker/export-run.js';
import type { Store } from '../../main/store/store.js';

/** An export as a test asks for it: the request (its cache is the app's) and the job's test options side by side. */
export interface ExportTestRequest extends Omit<ExportRequest, 'cacheDir'>, ExportRunOptions {}

/** The export job's work (in this process) and then the host's record of it, as the two processes do. */
export async function exportIn(store: Store, r: ExportTestRequest): Promise<ExportedModel[]> {
  const run = store.runs.require(r.runId);
  const dataset = run.datasetId === null ? null : store.datasets.get(run.datasetId);
  const { runId: _runId, format, precision, full, outDir, overwrite, calibration, maxDrop, uint8Input, ...options } = r;
  const int8 = {
    ...(calibration === undefined ? {} : { calibration }),
    ...(maxDrop === undefined ? {} : { maxDrop }),
    ...(uint8Input === undefined ? {} : { uint8Input }),
  };
  const results = await exportRun(
    { run, dataset, format, precision, full, outDir, overwrite: overwrite === true, cacheDir: datasetCacheDir(), ...int8 },
    options,
  );
  return recordExport(store, run.id, results, outDir);
}
