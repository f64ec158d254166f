import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { InputError } from '../../shared/errors.js';
import {
  DEFAULT_CALIBRATION_IMAGES,
  DEFAULT_MAX_ACCURACY_DROP,
  EXPORT_FORMAT_INFO,
  type ExportFormat,
  type ExportNetwork,
  type ExportOptions,
  type Precision,
  supportsPrecision,
  type VerificationReport,
} from '../../shared/export.js';
import type { RunRecord } from '../../shared/history.js';
import { planSmall } from '../../shared/model/plan.js';
import { trainsSmallOnly } from '../../shared/train-config.js';
import { initBackend } from '../engine/backend.js';
import { loadNetwork } from '../engine/bundle.js';
import { extractSmall } from '../engine/extract.js';
import { writeExportFiles, type ExportFile, type ExportFs } from '../export/files.js';
import type { LatencyOptions } from '../export/latency.js';
import { plainFull } from '../export/networks.js';
import { buildExport, type ExportTarget } from '../export/pipeline.js';
import type { Store } from '../store/store.js';
import { recordExport } from './record-export.js';
import { calibrationImages, DEFAULT_SAMPLES, openRunData, verificationBatch, type SampleCounts } from './validation-batch.js';

export interface ExportRequest {
  runId: number;
  format: ExportFormat;
  precision: Precision;
  /** Also export the full network, into `<outDir>/full/`, for comparison. */
  full: boolean;
  outDir: string;
  /** int8: training images to calibrate on (default 256). */
  calibration?: number;
  /** int8: the largest accepted drop of validation accuracy against float32, in points (default 1). */
  maxDrop?: number;
  /** int8: the model takes uint8 input. */
  uint8Input?: boolean;
  samples?: SampleCounts;
  latency?: LatencyOptions;
  onProgress?: (message: string) => void;
  /** Test hooks: the file system, and a change to the files before they are checked. */
  fs?: ExportFs;
  tamper?: (network: ExportNetwork, files: ExportFile[]) => ExportFile[];
}

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
  fp32LatencyMs: number | null;
  macRatio: number | null;
  latencySpeedup: number | null;
  speedupOverFp32: number | null;
  /** Said when a lower precision did not make the model faster. */
  note: string | null;
  verification: VerificationReport;
}

function exportable(run: RunRecord): string {
  if (run.status === 'finished' && run.outputs !== null) return run.outputs.network;
  const resume =
    run.checkpointPath !== null && (run.status === 'interrupted' || run.status === 'cancelled')
      ? `; resume it with adjoin train --resume --out ${run.outDir ?? '<its folder>'} and export it when it finishes`
      : '';
  if (run.status === 'finished') throw new InputError(`run ${run.id} finished without saving its network, so there is nothing to export`, 'run');
  throw new InputError(`run ${run.id} is ${run.status}; only finished runs can be exported${resume}`, 'run');
}

function loadTrained(path: string, runId: number): ReturnType<typeof loadNetwork> {
  try {
    return loadNetwork(path);
  } catch (e) {
    throw new InputError(`the trained network of run ${runId} cannot be read (${(e as Error).message})`, 'run');
  }
}

/** The request's format, precision and int8 settings, checked; the message names the flag at fault. */
export function exportOptions(req: ExportRequest): ExportOptions {
  const { format, precision } = req;
  if (!supportsPrecision(format, precision)) {
    throw new InputError(
      `${EXPORT_FORMAT_INFO[format].label} exports are ${EXPORT_FORMAT_INFO[format].precisions.join(' or ')}, not ${precision}`,
      'precision',
    );
  }
  const calibration = req.calibration ?? DEFAULT_CALIBRATION_IMAGES;
  if (!Number.isInteger(calibration) || calibration < 1) {
    throw new InputError(`--calibration must be a whole number of training images, at least 1; got ${calibration}`, 'calibration');
  }
  const maxDrop = req.maxDrop ?? DEFAULT_MAX_ACCURACY_DROP;
  if (!Number.isFinite(maxDrop) || maxDrop < 0 || maxDrop > 100) {
    throw new InputError(`--max-drop must be a number of percentage points from 0 to 100; got ${maxDrop}`, 'maxDrop');
  }
  const uint8Input = req.uint8Input ?? false;
  if (uint8Input && precision !== 'int8') throw new InputError('--uint8-input applies to int8 exports only', 'uint8Input');
  return { format, precision, calibration, maxDrop, uint8Input };
}

/** The threads runtimes may use while checking: the job's share of the cores. */
function checkThreads(): number {
  const share = Number(process.env['ADJOIN_TRAIN_WORKERS']);
  return Number.isInteger(share) && share > 0 ? share : availableParallelism();
}

/**
 * Exports a finished run's small network (and on request its full one) in
 * one format and precision, with labels.txt and metadata.json. In order, so
 * that a refusal or an unwritable folder leaves no trace in the database:
 * build every file in memory, check it in its runtime against the engine on
 * the run's validation images (refused with the figures if it disagrees or,
 * for int8, loses too much accuracy), time it; write the files; and last,
 * record the models, their files and figures (`recordExport`).
 */
export async function exportRun(store: Store, req: ExportRequest): Promise<ExportedModel[]> {
  const options = exportOptions(req);
  const run = store.runs.require(req.runId);
  const networkPath = exportable(run);
  if (run.data === null) throw new InputError(`run ${run.id} recorded no dataset information (classes, normalisation)`, 'run');
  await initBackend();
  const trained = loadTrained(networkPath, run.id);
  const targets: ExportTarget[] = [];
  try {
    const { config } = run;
    const plan = config.mode === 'an' && config.alpha !== null ? planSmall(trained.graph, config.alpha) : null;
    if (trainsSmallOnly(config.mode)) {
      // A small or kd run trained the small architecture alone: its network is the small one.
      if (req.full) throw new InputError(`run ${run.id} trained only a small network (mode ${config.mode}); there is no full network to export`, 'full');
      targets.push({
        network: 'small',
        graph: plainFull(trained.graph),
        params: trained.params,
        plan: null,
        accuracy: run.val.small?.accuracy ?? null,
        dir: req.outDir,
      });
    } else {
      if (plan !== null) {
        const small = extractSmall(trained.graph, plan, trained.params);
        targets.push({ network: 'small', graph: small.graph, params: small.params, plan, accuracy: run.val.small?.accuracy ?? null, dir: req.outDir });
      }
      if (plan === null || req.full) {
        targets.push({
          network: 'full',
          graph: plainFull(trained.graph),
          params: trained.params,
          plan: null,
          accuracy: run.val.full?.accuracy ?? null,
          dir: plan === null ? req.outDir : join(req.outDir, 'full'),
        });
      }
    }

    const dataset = run.datasetId === null ? null : store.datasets.get(run.datasetId);
    const opened = await openRunData(run, dataset);
    const built = await buildExport({
      options,
      trained,
      targets,
      batch: verificationBatch(run, opened, req.samples ?? DEFAULT_SAMPLES),
      calibration: options.precision === 'int8' ? calibrationImages(run, opened, options.calibration) : { images: null, reason: 'only int8 is calibrated' },
      facts: { classes: run.data.classes, mean: run.data.mean, std: run.data.std, channels: run.config.model.channels, runId: run.id },
      model: run.config.model,
      alpha: run.config.alpha,
      threads: checkThreads(),
      ...(req.latency === undefined ? {} : { latency: req.latency }),
      ...(req.onProgress === undefined ? {} : { onProgress: req.onProgress }),
      ...(req.tamper === undefined ? {} : { tamper: req.tamper }),
    });

    // Files first: a folder that cannot take them stops the export before the database is touched.
    for (const m of built) writeExportFiles(m.dir, m.files, req.fs);
    let ids: number[];
    try {
      ids = recordExport(store, { runId: run.id, format: options.format, precision: options.precision, models: built, now: new Date() });
    } catch (e) {
      throw new Error(`the export was written to ${req.outDir} but could not be recorded in ${store.file}: ${(e as Error).message}`);
    }
    return built.map((m, i) => {
      const c = m.metadata.comparison;
      return {
        id: ids[i]!,
        network: m.network,
        format: options.format,
        precision: options.precision,
        dir: m.dir,
        files: m.files.map((f) => ({ name: f.name, bytes: f.data.byteLength })),
        params: m.params,
        macs: m.macs,
        accuracy: m.accuracy,
        latencyMs: m.latencyMs,
        fullLatencyMs: m.fullLatencyMs,
        fp32LatencyMs: m.fp32LatencyMs,
        macRatio: c?.macRatio ?? null,
        latencySpeedup: c?.latencySpeedup ?? null,
        speedupOverFp32: c?.speedupOverFp32 ?? null,
        note: c?.note ?? null,
        verification: m.verification,
      };
    });
  } finally {
    for (const t of targets) if (t.params !== trained.params) t.params.dispose();
    trained.params.dispose();
  }
}
