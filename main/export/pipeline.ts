import {
  CALIBRATION_METHODS,
  EXPORT_FORMAT_INFO,
  type BuiltExport,
  type ExportMetadata,
  type ExportNetwork,
  type ExportOptions,
  type LatencyReport,
  type Precision,
  type QuantizationInfo,
  supportsPrecision,
  type VerificationReport,
} from '../../shared/export.js';
import { InputError } from '../../shared/errors.js';
import { costReport } from '../../shared/model/cost.js';
import type { ModelConfig } from '../../shared/model/config.js';
import type { ModelGraph } from '../../shared/model/graph.js';
import type { SmallPlan } from '../../shared/model/plan.js';
import type { NetworkParams } from '../engine/params.js';
import type { ExportFile } from './files.js';
import type { BuildRequest, Exporter, ExportSubject, ModelFacts, ModelSession } from './formats/exporter.js';
import { EXPORTERS } from './formats/registry.js';
import { lowerForInference } from './ir/lower.js';
import { measureLatency, type LatencyOptions } from './latency.js';
import { exportMetadata, labelsFile, metadataFile } from './metadata.js';
import { plainFull } from './networks.js';
import { CALIBRATION_PERCENTILE, calibrate, type CalibrationImages } from './quant/calibrate.js';
import { planQuantization, type QuantPlan } from './quant/plan.js';
import { concat, engineLogits, ExportRefusedError, forChunks, verificationReport, type VerificationBatch } from './verify.js';

/** One network to export. */
export interface ExportTarget {
  network: ExportNetwork;
  graph: ModelGraph;
  params: NetworkParams;
  /** How the engine computes it from the trained network: its small path, or (null) its full path. */
  plan: SmallPlan | null;
  /** Its validation accuracy at the end of the run. */
  accuracy: number | null;
  dir: string;
}

export interface ExportInput {
  options: ExportOptions;
  /** The trained network, the engine's reference. */
  trained: { graph: ModelGraph; params: NetworkParams };
  targets: ExportTarget[];
  batch: VerificationBatch;
  /** int8: the training images to calibrate on, or why there are none. */
  calibration: { images: CalibrationImages; source: string } | { images: null; reason: string };
  facts: ModelFacts;
  model: ModelConfig;
  alpha: unknown;
  /** CPU threads the runtimes may use while checking (timing always uses one). */
  threads: number;
  latency?: LatencyOptions;
  /** Progress, in words (the CLI prints it). */
  onProgress?: (message: string) => void;
  /** Test hook: a change to the model files before they are checked. */
  tamper?: (network: ExportNetwork, files: ExportFile[]) => ExportFile[];
}

/** An export built, checked and timed, in memory: files to write and figures to record. */
export type BuiltModel = BuiltExport;

interface Checked {
  target: ExportTarget;
  subject: ExportSubject;
  files: ExportFile[];
  verification: VerificationReport;
  quant: QuantPlan | null;
  tried: Array<{ method: QuantPlan['method']; accuracy: number | null }>;
}

/** A uint8-input model's input parameters: the int8 ones, 128 higher. */
function uint8InputOf(quant: QuantPlan | null, subject: ExportSubject, options: ExportOptions): { scale: number; zeroPoint: number } | null {
  if (quant === null || !options.uint8Input) return null;
  const q = quant.activations[subject.lowered.input]!;
  return { scale: q.scale, zeroPoint: q.zeroPoint + 128 };
}

const inputShape = (b: VerificationBatch) => ({ height: b.height, width: b.width, channels: b.channels });

async function runAll(session: ModelSession, batch: VerificationBatch): Promise<Float32Array> {
  const parts: Float32Array[] = [];
  await forChunks(batch, async (x, _from, count) => void parts.push(await session.logits(x, count)));
  return concat(parts);
}

function referenceName(t: ExportTarget): string {
  return t.plan !== null ? "the engine's small path" : t.network === 'small' ? "the engine's small network" : "the engine's full network";
}

/**
 * Builds one variant and runs it on the whole batch in its runtime; for
 * int8, once per calibration method, keeping the one with the better
 * validation accuracy.
 */
async function buildAndCheck(exporter: Exporter, input: ExportInput, target: ExportTarget, subject: ExportSubject): Promise<Checked> {
  const { options, batch } = input;
  const { precision } = options;
  const what = `${EXPORT_FORMAT_INFO[exporter.format].label} ${precision} ${target.network} network`;
  input.onProgress?.(`computing the engine's logits on ${batch.n} inputs (${batch.validationSamples} validation images)`);
  const reference = await engineLogits(input.trained.graph, input.trained.params, batch, target.plan);
  const request = (quant: QuantPlan | null): BuildRequest => ({ precision, quant, uint8Input: quant !== null && options.uint8Input, facts: input.facts });
  const check = async (quant: QuantPlan | null): Promise<{ files: ExportFile[]; verification: VerificationReport }> => {
    let files = await exporter.build(subject, request(quant));
    if (input.tamper !== undefined) files = input.tamper(target.network, files);
    input.onProgress?.(`checking the ${what}${quant === null ? '' : ` (${quant.method} calibration)`} in ${exporter.runtime} on ${batch.n} inputs`);
    const session = await exporter.open(files, inputShape(batch), { threads: input.threads, uint8Input: uint8InputOf(quant, subject, options) });
    try {
      const got = await runAll(session, batch);
      const verification = verificationReport(reference, got, {
        precision,
        maxDrop: options.maxDrop,
        reference: referenceName(target),
        runtime: exporter.runtime,
        batch,
      });
      return { files, verification };
    } finally {
      await session.release();
    }
  };

  if (precision !== 'int8') {
    const { files, verification } = await check(null);
    if (!verification.passed) throw ExportRefusedError.failedCheck(what, verification);
    return { target, subject, files, verification, quant: null, tried: [] };
  }
  const cal = input.calibration;
  if (cal.images === null) {
    throw ExportRefusedError.cannot(what, `the ${what} needs the run's training images to calibrate its activation ranges, and there are none: ${cal.reason}`);
  }
  input.onProgress?.(`calibrating on ${cal.images.n} training images`);
  const ranges = calibrate(subject.lowered, cal.images);
  const results: Array<Awaited<ReturnType<typeof check>> & { quant: QuantPlan }> = [];
  for (const method of CALIBRATION_METHODS) {
    const quant = planQuantization(subject.lowered, ranges[method], method);
    results.push({ ...(await check(quant)), quant });
  }
  const tried = results.map((r) => ({ method: r.quant.method, accuracy: r.verification.accuracy }));
  // The better validation accuracy wins; on a tie, the first method tried (min/max).
  const best = results.reduce((a, b) => ((b.verification.accuracy ?? -1) > (a.verification.accuracy ?? -1) ? b : a));
  if (!best.verification.passed) throw ExportRefusedError.failedCheck(what, best.verification);
  return { target, subject, ...best, tried };
}

/** What metadata.json says about an int8 model's quantization. */
function quantizationInfo(c: Checked, exporter: Exporter, input: ExportInput): QuantizationInfo | null {
  const q = c.quant;
  if (q === null) return null;
  const cal = input.calibration;
  const activationType = exporter.int8Activations ?? 'int8';
  const shift = activationType === 'uint8' ? 128 : 0;
  const g = c.subject.lowered;
  const tensorName = (t: number): string => g.tensors[t]!.name;
  const qi = q.activations[g.input]!;
  const qo = q.activations[g.output]!;
  return {
    scheme:
      'post-training full integer: weights int8 symmetric (zero point 0), per output channel for convolutions, per tensor for the dense layer; ' +
      'activations asymmetric per tensor; biases int32 at input scale × weight scale; quantize after the input, dequantize before the outputs',
    activationType,
    inputType: input.options.uint8Input ? 'uint8' : 'float32',
    input: { scale: qi.scale, zeroPoint: qi.zeroPoint + shift, dtype: activationType },
    output: { scale: qo.scale, zeroPoint: qo.zeroPoint + shift, dtype: activationType },
    calibration: {
      images: cal.images === null ? 0 : cal.images.n,
      source: cal.images === null ? cal.reason : cal.source,
      method: q.method,
      tried: c.tried,
      percentile: CALIBRATION_PERCENTILE,
    },
    sharedScaleGroups: q.groups.map((members) => members.map(tensorName)),
    activations: q.activations.map((a, t) => ({ name: tensorName(t), scale: a.scale, zeroPoint: a.zeroPoint + shift, min: a.min, max: a.max })),
  };
}

/** A lower precision that did not make the model faster is said so, not shipped as faster. */
function speedNote(precision: Precision, speedup: number | null, own: number | null, fp32: number | null, runtime: string): string | null {
  if (precision !== 'int8' || speedup === null || own === null || fp32 === null || speedup >= 1.1) return null;
  return (
    `int8 did not pay here: ${own.toFixed(3)} ms against ${fp32.toFixed(3)} ms in float32 (${speedup.toFixed(2)}×, ${runtime}); ` +
    'narrow layers leave integer kernels little to gain — ship float32 or fp16 unless the 4× smaller file matters'
  );
}

/** The timings of one export, by model: each variant by its network, `small-fp32`, `full-fp32` (or `full` when that is exported). */
type Latencies = Record<string, LatencyReport>;

function refuseUnsupportedPrecision({ format, precision }: ExportOptions): void {
  if (supportsPrecision(format, precision)) return;
  throw new InputError(`${EXPORT_FORMAT_INFO[format].label} exports are ${EXPORT_FORMAT_INFO[format].precisions.join(' or ')}, not ${precision}`, 'precision');
}

/** A network as the exporters take it: its graph, its weights and its inference graph. */
async function exportSubject(graph: ModelGraph, params: NetworkParams, name: string): Promise<ExportSubject> {
  return { graph, params, lowered: await lowerForInference(graph, params), name };
}

/**
 * The files to time side by side in one runtime: each variant, the small
 * network in float32 and the full network in float32 (built for the
 * comparison when they are not what is exported).
 */
async function modelsToTime(exporter: Exporter, input: ExportInput, checked: Checked[], fullSubject: ExportSubject): Promise<Record<string, ExportFile[]>> {
  const { precision } = input.options;
  const fp32 = (subject: ExportSubject): Promise<ExportFile[]> =>
    exporter.build(subject, { precision: 'fp32', quant: null, uint8Input: false, facts: input.facts });
  const toTime: Record<string, ExportFile[]> = {};
  for (const c of checked) toTime[c.target.network] = c.files;
  const small = checked.find((c) => c.target.network === 'small');
  if (small !== undefined && precision !== 'fp32') toTime['small-fp32'] = await fp32(small.subject);
  if (precision !== 'fp32' || toTime['full'] === undefined) toTime['full-fp32'] = await fp32(fullSubject);
  return toTime;
}

/** Times the models batch-1, one thread each, in the exporter's runtime. */
async function timeModels(exporter: Exporter, input: ExportInput, checked: Checked[], toTime: Record<string, ExportFile[]>): Promise<Latencies> {
  input.onProgress?.(`timing ${Object.keys(toTime).length} models batch-1 in ${exporter.runtime}`);
  const sessions: Record<string, ModelSession> = {};
  try {
    for (const [name, files] of Object.entries(toTime)) {
      const c = checked.find((x) => x.target.network === name);
      sessions[name] = await exporter.open(files, inputShape(input.batch), {
        threads: 1,
        uint8Input: c === undefined ? null : uint8InputOf(c.quant, c.subject, input.options),
      });
    }
    return await measureLatency(sessions, exporter.runtime, input.latency);
  } finally {
    for (const s of Object.values(sessions)) await s.release();
  }
}

/** One variant's timings: its own, the same network's in float32 and the full network's in float32. */
interface VariantLatency {
  mine: LatencyReport | null;
  ownFp32: LatencyReport | null;
  full: LatencyReport | null;
  speedupOverFp32: number | null;
}

function variantLatency(latency: Latencies, network: ExportNetwork, precision: Precision): VariantLatency {
  const mine = latency[network] ?? null;
  const full = latency['full-fp32'] ?? latency['full'] ?? null;
  const ownFp32 = precision === 'fp32' ? mine : (latency[`${network}-fp32`] ?? null);
  const speedupOverFp32 = mine !== null && ownFp32 !== null && precision !== 'fp32' ? ownFp32.medianMs / mine.medianMs : null;
  return { mine, ownFp32, full, speedupOverFp32 };
}

/** What metadata.json says of the small network against the full one and against itself in float32 (null for the full network). */
function comparisonOf(
  network: ExportNetwork,
  macs: number,
  fullMacs: number,
  t: VariantLatency,
  precision: Precision,
  runtime: string,
): ExportMetadata['comparison'] {
  if (network !== 'small') return null;
  const { mine, ownFp32, full, speedupOverFp32 } = t;
  return {
    fullMacs,
    macRatio: fullMacs / macs,
    fullLatencyMs: full?.medianMs ?? null,
    latencySpeedup: full !== null && mine !== null ? full.medianMs / mine.medianMs : null,
    fp32LatencyMs: precision === 'fp32' ? null : (ownFp32?.medianMs ?? null),
    speedupOverFp32,
    note: speedNote(precision, speedupOverFp32, mine?.medianMs ?? null, ownFp32?.medianMs ?? null, runtime),
  };
}

/** A checked variant with its figures, labels.txt and metadata.json: what the caller writes and records. */
function builtModel(c: Checked, exporter: Exporter, input: ExportInput, latency: Latencies, fullMacs: number, now: Date): BuiltModel {
  const { format, precision } = input.options;
  const { facts, batch } = input;
  const own = costReport(c.target.graph).full;
  const t = variantLatency(latency, c.target.network, precision);
  const metadata = exportMetadata({
    format,
    network: c.target.network,
    precision,
    files: [...c.files.map((f) => f.name), 'labels.txt', 'metadata.json'],
    model: input.model,
    alpha: input.alpha,
    classes: facts.classes,
    mean: facts.mean,
    std: facts.std,
    params: own.params,
    macs: own.macs,
    validationAccuracy: c.target.accuracy,
    runId: facts.runId,
    io: exporter.describe(inputShape(batch), facts.classes.length, {
      subject: c.subject,
      uint8Input: c.quant !== null && input.options.uint8Input ? c.quant.activations[c.subject.lowered.input]! : null,
    }),
    verification: c.verification,
    latency: t.mine,
    comparison: comparisonOf(c.target.network, own.macs, fullMacs, t, precision, exporter.runtime),
    quantization: quantizationInfo(c, exporter, input),
    now,
  });
  return {
    network: c.target.network,
    dir: c.target.dir,
    files: [...c.files, labelsFile(facts.classes), metadataFile(metadata)],
    params: own.params,
    macs: own.macs,
    accuracy: c.target.accuracy,
    latencyMs: t.mine?.medianMs ?? null,
    fullLatencyMs: c.target.network === 'small' ? (t.full?.medianMs ?? null) : null,
    fp32LatencyMs: precision === 'fp32' ? null : (t.ownFp32?.medianMs ?? null),
    fullMacs: c.target.network === 'small' ? fullMacs : null,
    verification: c.verification,
    metadata,
  };
}

/**
 * Exports the targets in one format and precision, in memory: builds the
 * files, checks each in its runtime against the engine on the whole batch
 * (refused with the figures if it disagrees or, for int8, loses more than
 * `maxDrop` points), then times it batch-1 next to the same network in
 * float32 and the full network in float32, in the same runtime. Nothing is
 * written; the caller writes the files and records them.
 */
export async function buildExport(input: ExportInput): Promise<BuiltModel[]> {
  refuseUnsupportedPrecision(input.options);
  const exporter = EXPORTERS[input.options.format];
  const checked: Checked[] = [];
  for (const target of input.targets) {
    const subject = await exportSubject(target.graph, target.params, `adjoin-run-${input.facts.runId}-${target.network}`);
    checked.push(await buildAndCheck(exporter, input, target, subject));
  }
  const fullGraph = plainFull(input.trained.graph);
  const fullSubject = await exportSubject(fullGraph, input.trained.params, 'full');
  const latency = await timeModels(exporter, input, checked, await modelsToTime(exporter, input, checked, fullSubject));
  const fullMacs = costReport(fullGraph).full.macs;
  const now = new Date();
  return checked.map((c) => builtModel(c, exporter, input, latency, fullMacs, now));
}
