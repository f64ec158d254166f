import { resolve } from 'node:path';
import { InputError } from '../../shared/errors.js';
import { EXPORT_FORMATS } from '../../shared/export.js';
import { datasetCacheDir } from '../app-paths.js';
import { exportModels, type ExportedModel } from '../jobs/host/exports.js';
import { JobFailed } from '../jobs/host/one-shot.js';
import { choiceArg, parse } from './args.js';
import type { Command, CommandIo } from './command.js';
import { formatCount, percent } from './format.js';
import { openExisting, runIdArg } from './store-args.js';

const EXPORT_USAGE = `adjoin export <run> --format onnx|tfjs [--fp16] [--full] --out DIR [--overwrite] [--json] [--db FILE]
  Writes the run's small network (with --full also the full one, in DIR/full) with labels.txt and metadata.json,
  after checking it against the engine; stores the files, the check and the ONNX latency in the history. Files of
  the same names in DIR that Adjoin did not write are replaced only with --overwrite.`;

function describe(m: ExportedModel, runId: number): string[] {
  const v = m.verification;
  const lines = [
    `exported run ${runId}'s ${m.network} network as ${m.format} (${m.precision}) to ${m.dir}: ${m.files.map((f) => f.name).join(', ')}`,
    `  ${m.params.toLocaleString('en-US')} params, ${formatCount(m.macs)} MACs; model #${m.id} in the history`,
    `  checked against ${v.reference} in ${v.runtime}: top-1 agreement ${percent(v.top1Agreement)}, max abs logit difference ${v.maxAbsLogitDiff.toExponential(2)} on ${v.samples} inputs`,
  ];
  if (v.note !== null) lines.push(`  note: ${v.note}`);
  if (m.latencyMs !== null) {
    lines.push(
      `  batch-1 CPU latency ${m.latencyMs.toFixed(3)} ms` +
        (m.latencySpeedup !== null && m.macRatio !== null
          ? `; full network ${m.fullLatencyMs!.toFixed(3)} ms: ${m.latencySpeedup.toFixed(2)}× faster, ${m.macRatio.toFixed(2)}× fewer MACs`
          : ''),
    );
  }
  return lines;
}

export async function exportCommand(argv: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parse(
    argv,
    {
      format: { type: 'string' },
      fp16: { type: 'boolean' },
      full: { type: 'boolean' },
      out: { type: 'string' },
      overwrite: { type: 'boolean' },
      json: { type: 'boolean' },
      db: { type: 'string' },
    },
    true,
  );
  const runId = runIdArg(positionals, 'export');
  if (values.format === undefined) throw new InputError(`--format is required (${EXPORT_FORMATS.join(' or ')})`, 'format');
  const format = choiceArg(values.format, 'format', EXPORT_FORMATS, 'onnx');
  if (values.out === undefined) throw new InputError('--out is required (the folder to write the model to)', 'out');
  const store = openExisting(values.db);
  try {
    const models = await exportModels(store, {
      runId,
      format,
      precision: values.fp16 === true ? 'float16' : 'float32',
      full: values.full === true,
      outDir: resolve(values.out),
      cacheDir: datasetCacheDir(),
      overwrite: values.overwrite === true,
    });
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
