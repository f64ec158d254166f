import { join, resolve } from 'node:path';
import ort from 'onnxruntime-node';
import { trainsSmallOnly } from '../../../shared/train-config.js';
import { InputError } from '../../../shared/errors.js';
import type { ExportFormat, ExportNetwork, LatencyReport, Precision, VerificationReport } from '../../../shared/export.js';
import { costReport } from '../../../shared/model/cost.js';
import type { ModelGraph } from '../../../shared/model/graph.js';
import { planSmall, type SmallPlan } from '../../../shared/model/plan.js';
import { initBackend } from '../../engine/backend.js';
import { loadNetwork } from '../../engine/bundle.js';
import { extractSmall } from '../../engine/extract.js';
import type { NetworkParams } from '../../engine/params.js';
import { writeExportFiles, type ExportFile, type ExportFs } from '../../export/files.js';
import { measureLatency, type LatencyOptions } from '../../export/latency.js';
import { exportMetadata, labelsFile, metadataFile, onnxMetadataProps } from '../../export/metadata.js';
import { plainFull } from '../../export/networks.js';
import { refuseForeignFiles } from '../../export/ownership.js';
import { toOnnx } from '../../export/onnx-model.js';
import { toTfjsFiles } from '../../export/tfjs-model.js';
import { compareLogits, engineLogits, ExportRefusedError, onnxLogits, tfjsLogits, verificationReport, type VerificationBatch } from '../../export/verify.js';
import type { RunRecord } from '../../../shared/history.js';
import type { ExportJob, ExportResult } from '../job-spec.js';
import { DEFAULT_SAMPLES, verificationBatch, type SampleCounts } from './validation-batch.js';

export interface ExportOptions {
  samples?: SampleCounts;
  latency?: LatencyOptions;
  /** Test hooks: the file system, and a change to the files before they are checked. */
  fs?: ExportFs;
  tamper?: (network: ExportNetwork, files: ExportFile[]) => ExportFile[];
}

/** One network to export: a plain graph with its weights, and how the engine computes it. */
interface Target {
  network: ExportNetwork;
  graph: ModelGraph;
  params: NetworkParams;
  /** The engine's reference: the small path of the trained network, or its full path. */
  plan: SmallPlan | null;
  accuracy: number | null;
  dir: string;
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

async function formatFiles(t: Target, format: ExportFormat, precision: Precision, run: RunRecord, classes: string[]): Promise<ExportFile[]> {
  const float16 = precision === 'float16';
  if (format === 'tfjs') return toTfjsFiles(t.graph, t.params, { float16 });
  const meta = onnxMetadataProps({ classes, mean: run.data!.mean, std: run.data!.std, channels: run.config.model.channels, runId: run.id });
  return [{ name: 'model.onnx', data: await toOnnx(t.graph, t.params, { float16, metadata: meta, name: `adjoin-run-${run.id}-${t.network}` }) }];
}

async function verify(
  t: Target,
  format: ExportFormat,
  files: ExportFile[],
  reference: Float32Array,
  batch: VerificationBatch,
  precision: Precision,
): Promise<VerificationReport> {
  const got = format === 'onnx' ? await onnxLogits(files.find((f) => f.name === 'model.onnx')!.data, batch) : await tfjsLogits(files, batch);
  const report = verificationReport(compareLogits(reference, got, batch.n), {
    precision,
    reference: t.plan !== null ? "the engine's small path" : t.network === 'small' ? "the engine's small network" : "the engine's full network",
    runtime: format === 'onnx' ? `onnxruntime-node ${ort.env.versions.node ?? ort.env.versions.common}` : 'TF.js (the engine)',
    batch,
  });
  if (!report.passed) throw new ExportRefusedError(`${format === 'onnx' ? 'ONNX' : 'TF.js'} ${t.network} network`, report);
  return report;
}

/**
 * Exports a finished run's small network (and on request its full one) as
 * ONNX or TF.js with labels.txt and metadata.json. In order, so that a
 * refusal or an unwritable folder leaves nothing behind: build every file in
 * memory; check it against the engine on validation images (refused with the
 * figures if it disagrees); time the ONNX models; write the files into the
 * target folder. The host then records the models and their files.
 */
export async function exportRun(job: ExportJob, o: ExportOptions = {}): Promise<ExportResult[]> {
  // The folder as it will be stored: `/a/out/../b` is `/b`.
  const req = { ...job, outDir: resolve(job.outDir) };
  const { run } = req;
  const networkPath = exportable(run);
  if (run.data === null) throw new InputError(`run ${run.id} recorded no dataset information (classes, normalisation)`, 'run');
  await initBackend();
  const trained = loadTrained(networkPath, run.id);
  const targets: Target[] = [];
  try {
    const { config } = run;
    const plan = config.mode === 'an' ? planSmall(trained.graph, config.alpha) : null;
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

    const batch = await verificationBatch(run, req.dataset, req.cacheDir, o.samples ?? DEFAULT_SAMPLES);
    const classes = run.data.classes;
    const built: Array<{ t: Target; files: ExportFile[]; verification: VerificationReport; onnx: Uint8Array | null }> = [];
    for (const t of targets) {
      let files = await formatFiles(t, req.format, req.precision, run, classes);
      // Before the slow part (checking, timing): a folder holding someone else's files is refused at once.
      refuseForeignFiles(t.dir, [...files.map((f) => f.name), 'labels.txt', 'metadata.json'], req.overwrite);
      if (o.tamper !== undefined) files = o.tamper(t.network, files);
      const reference = await engineLogits(trained.graph, trained.params, batch, t.plan);
      const verification = await verify(t, req.format, files, reference, batch, req.precision);
      built.push({ t, files, verification, onnx: files.find((f) => f.name === 'model.onnx')?.data ?? null });
    }

    // Latency of the full and the small ONNX model, timed side by side in
    // this session, whether or not the full one is being exported.
    const cost = (g: ModelGraph) => costReport(g).full;
    const fullGraph = plainFull(trained.graph);
    const fullMacs = cost(fullGraph).macs;
    let latency: Record<string, LatencyReport> = {};
    if (req.format === 'onnx') {
      const models: Record<string, Uint8Array> = {};
      for (const b of built) models[b.t.network] = b.onnx!;
      if (models['full'] === undefined) {
        models['full'] = await toOnnx(fullGraph, trained.params, { float16: req.precision === 'float16' });
      }
      const { inputSize, channels } = run.config.model;
      latency = await measureLatency(models, [channels, inputSize, inputSize], o.latency);
    }

    const now = new Date();
    const results: ExportResult[] = built.map((b) => {
      const own = cost(b.t.graph);
      const mine = latency[b.t.network] ?? null;
      const full = latency['full'] ?? null;
      const compare = b.t.network === 'small';
      const comparison = compare
        ? {
            fullMacs,
            macRatio: fullMacs / own.macs,
            fullLatencyMs: full?.medianMs ?? null,
            latencySpeedup: full !== null && mine !== null ? full.medianMs / mine.medianMs : null,
          }
        : null;
      const names = [...b.files.map((f) => f.name), 'labels.txt', 'metadata.json'];
      const metadata = exportMetadata({
        format: req.format,
        network: b.t.network,
        precision: req.precision,
        files: names,
        model: run.config.model,
        alpha: run.config.alpha,
        classes,
        mean: run.data!.mean,
        std: run.data!.std,
        params: own.params,
        macs: own.macs,
        validationAccuracy: b.t.accuracy,
        runId: run.id,
        tfjsOutput: b.t.graph.nodes[b.t.graph.output]!.name,
        verification: b.verification,
        latency: mine,
        comparison,
        now,
      });
      const all = [...b.files, labelsFile(classes), metadataFile(metadata)];
      return {
        network: b.t.network,
        format: req.format,
        precision: req.precision,
        dir: b.t.dir,
        params: own.params,
        macs: own.macs,
        accuracy: b.t.accuracy,
        latencyMs: mine?.medianMs ?? null,
        fullLatencyMs: comparison?.fullLatencyMs ?? null,
        macRatio: comparison?.macRatio ?? null,
        latencySpeedup: comparison?.latencySpeedup ?? null,
        verification: b.verification,
        fullMacs: compare ? fullMacs : null,
        files: all,
        metadata,
        createdAt: now.getTime(),
      };
    });

    // Nothing is written until every network has passed its check; the host records them afterwards.
    for (const r of results) writeExportFiles(r.dir, r.files, o.fs);
    return results;
  } finally {
    for (const t of targets) if (t.params !== trained.params) t.params.dispose();
    trained.params.dispose();
  }
}
