import { resolve } from 'node:path';
import { InputError } from '../../shared/errors.js';
import {
  checkExportOptions,
  DEFAULT_CALIBRATION_IMAGES,
  DEFAULT_MAX_ACCURACY_DROP,
  EXPORT_FORMAT_INFO,
  EXPORT_FORMATS,
  PRECISIONS,
} from '../../shared/export.js';
import { datasetCacheDir } from '../app-paths.js';
import { exportModels, type ExportedModel } from '../jobs/host/exports.js';
import { JobFailed } from '../jobs/host/one-shot.js';
import { choiceArg, intArg, numberArg, parse } from './args.js';
import type { Command, CommandIo } from './command.js';
import { formatBytes, formatCount, percent } from './format.js';
import { openExisting, runIdArg } from './store-args.js';

const EXPORT_USAGE = `adjoin export <run> --format ${EXPORT_FORMATS.join('|')} [--precision ${PRECISIONS.join('|')}] [--fp16] [--full] --out DIR [--overwrite] [--json] [--db FILE]
       [--calibration N] [--max-drop POINTS] [--uint8-input]
  Writes the run's small network (with --full also the full one, in DIR/full) with labels.txt and metadata.json,
  after running it on the run's validation images in its runtime and comparing it with the engine; stores the
  files, the check and the latency in the history. --fp16 is --precision fp16. int8 is calibrated on
  --calibration training images (default ${DEFAULT_CALIBRATION_IMAGES}) and refused if its accuracy drops more than
  --max-drop points (default ${DEFAULT_MAX_ACCURACY_DROP}) below float32's; --uint8-input makes it take uint8 input.
  Files of the same names in DIR that Adjoin did not write are replaced only with --overwrite.`;

function describe(m: ExportedModel, runId: number): string[] {
  const v = m.verification;
  const label = `${EXPORT_FORMAT_INFO[m.format].label} ${m.precision}`;
  const lines = [
    `exported run ${runId}'s ${m.network} network as ${label} to ${m.dir}: ${m.files.map((f) => `${f.name} (${formatBytes(f.bytes)})`).join(', ')}`,
    `  ${m.params.toLocaleString('en-US')} params, ${formatCount(m.macs)} MACs; model #${m.id} in the history`,
    `  checked in ${v.runtime} against ${v.reference} on ${v.samples} inputs (${v.validationSamples} validation images): ` +
      `top-1 agreement ${percent(v.top1Agreement)}, max abs logit difference ${v.maxAbsLogitDiff.toExponential(2)}`,
  ];
  if (v.accuracy !== null && v.referenceAccuracy !== null) {
    lines.push(
      `  validation accuracy ${percent(v.accuracy)} (float32 in the engine: ${percent(v.referenceAccuracy)}; ${(v.accuracyDrop ?? 0).toFixed(2)} points lost)`,
    );
  }
  if (v.note !== null) lines.push(`  note: ${v.note}`);
  if (m.latencyMs !== null) {
    const parts = [`batch-1 latency ${m.latencyMs.toFixed(3)} ms`];
    if (m.fp32LatencyMs !== null && m.speedupOverFp32 !== null) parts.push(`float32 ${m.fp32LatencyMs.toFixed(3)} ms: ${m.speedupOverFp32.toFixed(2)}× faster`);
    if (m.latencySpeedup !== null && m.macRatio !== null && m.fullLatencyMs !== null) {
      parts.push(`full network in float32 ${m.fullLatencyMs.toFixed(3)} ms: ${m.latencySpeedup.toFixed(2)}× faster, ${m.macRatio.toFixed(2)}× fewer MACs`);
    }
    lines.push(`  ${parts.join('; ')}`);
  }
  if (m.note !== null) lines.push(`  note: ${m.note}`);
  return lines;
}

export async function exportCommand(argv: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parse(
    argv,
    {
      format: { type: 'string' },
      precision: { type: 'string' },
      fp16: { type: 'boolean' },
      calibration: { type: 'string' },
      'max-drop': { type: 'string' },
      'uint8-input': { type: 'boolean' },
      full: { type: 'boolean' },
      out: { type: 'string' },
      overwrite: { type: 'boolean' },
      json: { type: 'boolean' },
      db: { type: 'string' },
    },
    true,
  );
  const runId = runIdArg(positionals, 'export');
  if (values.format === undefined) throw new InputError(`--format is required (${EXPORT_FORMATS.join(', ')})`, 'format');
  const format = choiceArg(values.format, 'format', EXPORT_FORMATS, 'onnx');
  if (values.fp16 === true && values.precision !== undefined && values.precision !== 'fp16') {
    throw new InputError(`--fp16 is --precision fp16; it cannot go with --precision ${values.precision}`, 'precision');
  }
  const precision = choiceArg(values.precision, 'precision', PRECISIONS, values.fp16 === true ? 'fp16' : 'fp32');
  const calibration = intArg(values.calibration, 'calibration', DEFAULT_CALIBRATION_IMAGES);
  const maxDrop = numberArg(values['max-drop'], 'max-drop', DEFAULT_MAX_ACCURACY_DROP);
  if (values.out === undefined) throw new InputError('--out is required (the folder to write the model to)', 'out');
  const request = {
    runId,
    format,
    precision,
    full: values.full === true,
    outDir: resolve(values.out),
    calibration,
    maxDrop,
    uint8Input: values['uint8-input'] === true,
  };
  // Bad settings are refused before the history is opened.
  checkExportOptions(request);
  const store = openExisting(values.db);
  try {
    const models = await exportModels(
      store,
      { ...request, cacheDir: datasetCacheDir(), overwrite: values.overwrite === true },
      // Checking every validation image in each runtime takes a while: say what is happening.
      { onLog: (_level, message) => io.err(`adjoin: ${message}…\n`) },
    );
    if (values.json === true) io.out(JSON.stringify(models));
    else for (const m of models) for (const line of describe(m, runId)) io.out(line);
    return 0;
  } catch (e) {
    // A model that disagrees with the engine is refused (with the figures): the export failed, the input was fine.
    if (e instanceof JobFailed && e.name === 'ExportRefusedError') {
      io.err(`adjoin: error: ${e.message}\n`);
      return 1;
    }
    throw e;
  } finally {
    store.close();
  }
}

export const exportCmd: Command = { name: 'export', usage: EXPORT_USAGE, run: exportCommand };
