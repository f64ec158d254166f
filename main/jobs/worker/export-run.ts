import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { InputError } from '../../../shared/errors.js';
import { checkExportOptions, EXPORT_FORMAT_INFO, type ExportNetwork } from '../../../shared/export.js';
import type { RunRecord } from '../../../shared/history.js';
import { planSmall } from '../../../shared/model/plan.js';
import { trainsSmallOnly } from '../../../shared/train-config.js';
import { initBackend } from '../../engine/backend.js';
import { loadNetwork } from '../../engine/bundle.js';
import { extractSmall } from '../../engine/extract.js';
import { writeExportFiles, type ExportFile, type ExportFs } from '../../export/files.js';
import type { LatencyOptions } from '../../export/latency.js';
import { plainFull } from '../../export/networks.js';
import { refuseForeignFiles } from '../../export/ownership.js';
import { buildExport, type ExportTarget } from '../../export/pipeline.js';
import type { ExportJob, ExportResult } from '../job-spec.js';
import { calibrationImages, DEFAULT_SAMPLES, openRunData, verificationBatch, type SampleCounts } from './validation-batch.js';

export interface ExportRunOptions {
  samples?: SampleCounts;
  latency?: LatencyOptions;
  /** Progress, in words (the CLI prints it). */
  onProgress?: (message: string) => void;
  /** Test hooks: the file system, and a change to the files before they are checked. */
  fs?: ExportFs;
  tamper?: (network: ExportNetwork, files: ExportFile[]) => ExportFile[];
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

/** The threads runtimes may use while checking: the job's share of the cores. */
function checkThreads(): number {
  const share = Number(process.env['ADJOIN_TRAIN_WORKERS']);
  return Number.isInteger(share) && share > 0 ? share : availableParallelism();
}

/** The networks a run exports: its small one (extracted, or the one a small/kd run trained) and, on request or alone, its full one. */
function exportTargets(run: RunRecord, trained: ReturnType<typeof loadNetwork>, full: boolean, outDir: string): ExportTarget[] {
  const { config } = run;
  if (trainsSmallOnly(config.mode)) {
    // A small or kd run trained the small architecture alone: its network is the small one.
    if (full) throw new InputError(`run ${run.id} trained only a small network (mode ${config.mode}); there is no full network to export`, 'full');
    return [{ network: 'small', graph: plainFull(trained.graph), params: trained.params, plan: null, accuracy: run.val.small?.accuracy ?? null, dir: outDir }];
  }
  const targets: ExportTarget[] = [];
  const plan = config.mode === 'an' ? planSmall(trained.graph, config.alpha) : null;
  if (plan !== null) {
    const small = extractSmall(trained.graph, plan, trained.params);
    targets.push({ network: 'small', graph: small.graph, params: small.params, plan, accuracy: run.val.small?.accuracy ?? null, dir: outDir });
  }
  if (plan === null || full) {
    targets.push({
      network: 'full',
      graph: plainFull(trained.graph),
      params: trained.params,
      plan: null,
      accuracy: run.val.full?.accuracy ?? null,
      dir: plan === null ? outDir : join(outDir, 'full'),
    });
  }
  return targets;
}

/**
 * Exports a finished run's small network (and on request its full one) in
 * one format and precision, with labels.txt and metadata.json. In order, so
 * that a refusal or an unwritable folder leaves nothing behind: refuse a
 * folder holding files Adjoin did not write; build every file in memory,
 * check it in its runtime against the engine on the run's validation images
 * (refused with the figures if it disagrees or, for int8, loses too much
 * accuracy), time it; then write the files. The host records the models.
 */
export async function exportRun(job: ExportJob, o: ExportRunOptions = {}): Promise<ExportResult[]> {
  const options = checkExportOptions(job);
  // The folder as it will be stored: `/a/out/../b` is `/b`.
  const outDir = resolve(job.outDir);
  const { run } = job;
  const networkPath = exportable(run);
  const info = run.data;
  if (info === null) throw new InputError(`run ${run.id} recorded no dataset information (classes, normalisation)`, 'run');
  await initBackend();
  const trained = loadTrained(networkPath, run.id);
  let targets: ExportTarget[] = [];
  try {
    targets = exportTargets(run, trained, job.full, outDir);
    // Before the slow part (checking, timing): a folder holding someone else's files is refused at once.
    const names = [...EXPORT_FORMAT_INFO[options.format].modelFiles, 'labels.txt', 'metadata.json'];
    for (const t of targets) refuseForeignFiles(t.dir, names, job.overwrite);

    const opened = await openRunData(run, job.dataset, job.cacheDir);
    const built = await buildExport({
      options,
      trained,
      targets,
      batch: verificationBatch(run, opened, o.samples ?? DEFAULT_SAMPLES),
      calibration: options.precision === 'int8' ? calibrationImages(run, opened, options.calibration) : { images: null, reason: 'only int8 is calibrated' },
      facts: { classes: info.classes, mean: info.mean, std: info.std, channels: run.config.model.channels, runId: run.id },
      model: run.config.model,
      alpha: run.config.alpha,
      threads: checkThreads(),
      ...(o.latency === undefined ? {} : { latency: o.latency }),
      ...(o.onProgress === undefined ? {} : { onProgress: o.onProgress }),
      ...(o.tamper === undefined ? {} : { tamper: o.tamper }),
    });

    // Nothing is written until every network has passed its check; the host records them afterwards.
    for (const m of built) writeExportFiles(m.dir, m.files, o.fs);
    const now = Date.now();
    return built.map((m): ExportResult => {
      const c = m.metadata.comparison;
      return {
        network: m.network,
        format: options.format,
        precision: options.precision,
        dir: m.dir,
        params: m.params,
        macs: m.macs,
        accuracy: m.accuracy,
        latencyMs: m.latencyMs,
        fullLatencyMs: m.fullLatencyMs,
        fullMacs: m.fullMacs,
        fp32LatencyMs: m.fp32LatencyMs,
        macRatio: c?.macRatio ?? null,
        latencySpeedup: c?.latencySpeedup ?? null,
        speedupOverFp32: c?.speedupOverFp32 ?? null,
        note: c?.note ?? null,
        verification: m.verification,
        files: m.files,
        metadata: m.metadata,
        createdAt: now,
      };
    });
  } finally {
    for (const t of targets) if (t.params !== trained.params) t.params.dispose();
    trained.params.dispose();
  }
}
