import { skipLines } from '../../shared/backend.js';
import type { ModelDetails, RunDetails } from '../../shared/history.js';
import { runDetails } from '../jobs/host/run-details.js';
import { parse } from './args.js';
import type { Command } from './command.js';
import { formatBytes, formatCount, formatDuration, percent } from './format.js';
import { dateTime, modelLabel } from './runs-command.js';
import { openExisting, runIdArg } from './store-args.js';
import { searchLines } from './show-search.js';

const SHOW_USAGE = `adjoin show <run> [--json] [--db FILE]
  A run's config, metrics and exports (with latency, speed-up and MAC ratio).`;

/** "batch-1 CPU latency 0.41 ms; float32 0.60 ms: 1.46× faster; full 1.20 ms: 2.9× faster, 3.1× fewer MACs" */
export function speedLine(m: ModelDetails): string {
  if (m.latencyMs === null) return m.macRatio === null ? 'latency not measured' : `${m.macRatio.toFixed(2)}× fewer MACs than the full network`;
  const parts = [`batch-1 CPU latency ${m.latencyMs.toFixed(3)} ms`];
  if (m.fp32LatencyMs !== null && m.speedupOverFp32 !== null) parts.push(`float32 ${m.fp32LatencyMs.toFixed(3)} ms: ${m.speedupOverFp32.toFixed(2)}× faster`);
  if (m.latencySpeedup !== null && m.macRatio !== null && m.fullLatencyMs !== null) {
    parts.push(`full ${m.fullLatencyMs.toFixed(3)} ms: ${m.latencySpeedup.toFixed(2)}× faster, ${m.macRatio.toFixed(2)}× fewer MACs`);
  }
  return parts.join('; ');
}

/** The per-epoch table. */
function epochLines(d: RunDetails): string[] {
  const out: string[] = [];
  if (d.epochs.length > 0) {
    out.push(
      '',
      `  ${'epoch'.padEnd(7)}${'train loss'.padStart(11)}${'val full'.padStart(10)}${'val small'.padStart(11)}${'λ'.padStart(7)}${'lr'.padStart(10)}${'time'.padStart(9)}`,
    );
    for (const e of d.epochs) {
      out.push(
        `  ${String(e.epoch).padEnd(7)}${e.trainLoss.toFixed(4).padStart(11)}${(e.val.full === null ? '-' : percent(e.val.full.accuracy)).padStart(10)}` +
          `${(e.val.small === null ? '-' : percent(e.val.small.accuracy)).padStart(11)}${e.lambda.toFixed(2).padStart(7)}` +
          `${e.lr.toPrecision(2).padStart(10)}${formatDuration(e.seconds).padStart(9)}`,
      );
    }
  }
  return out;
}

/** Each stored export: its files, speed, check and integrity. */
function exportLines(d: RunDetails): string[] {
  const out: string[] = [];
  if (d.models.length > 0) {
    out.push('', '  exports');
    for (const x of d.models) {
      const size = x.files.reduce((n, f) => n + f.byteSize, 0);
      out.push(
        `  #${x.id} ${x.network} ${x.format} ${x.precision}, ${formatBytes(size)}, ${x.params.toLocaleString('en-US')} params, ${formatCount(x.macs)} MACs → ${x.outDir}`,
      );
      out.push(`      ${speedLine(x)}`);
      if (x.speedNote !== null) out.push(`      note: ${x.speedNote}`);
      const v = x.verification;
      out.push(
        `      verified against ${v.reference} in ${v.runtime}: top-1 agreement ${percent(v.top1Agreement)}, max abs logit difference ${v.maxAbsLogitDiff.toExponential(2)} on ${v.samples} inputs (${v.validationSamples} validation images)`,
      );
      if (v.accuracy !== null && v.referenceAccuracy !== null) {
        out.push(`      validation accuracy ${percent(v.accuracy)} in ${v.runtime} (float32 in the engine ${percent(v.referenceAccuracy)})`);
      }
      out.push(
        `      stored files: ${x.integrity === 'ok' ? 'intact (SHA-256 checked)' : `CORRUPTED: ${x.corruptedFiles.join(', ')} no longer match their SHA-256`}`,
      );
    }
  }
  return out;
}

export function renderRun(d: RunDetails, dbFile: string): string {
  const { run } = d;
  const m = run.config.model;
  const lines: string[] = [];
  const field = (k: string, v: string): void => void lines.push(`  ${k.padEnd(11)}${v}`);
  lines.push(`run ${run.id}: ${run.status}${run.failureReason === null ? '' : ` (${run.failureReason})`}`);
  field('model', `${modelLabel(run)}, ${m.classes} classes, ${m.inputSize}×${m.inputSize}×${m.channels}`);
  if (run.data !== null) field('data', `${run.data.name} (${run.data.source}): ${run.data.trainCount} train / ${run.data.valCount} val images`);
  if (run.backendInfo !== null) {
    field('backend', `${run.backendInfo.kind} (${run.backendInfo.label}) — ${run.backendInfo.device}`);
    for (const line of skipLines(run.backendInfo)) field('', `not used: ${line}`);
  } else if (run.backend !== null) field('backend', `${run.backend} — ${run.device ?? ''}`);
  if (run.worker !== null) field('worker', `${run.worker.name} on ${run.worker.host} (a queue worker)`);
  field('seed', String(run.seed));
  field('created', dateTime(run.createdAt));
  if (run.startedAt !== null) field('started', dateTime(run.startedAt));
  if (run.finishedAt !== null)
    field('ended', `${dateTime(run.finishedAt)}${run.trainSeconds === null ? '' : ` (${formatDuration(run.trainSeconds)} of training)`}`);
  if (run.outDir !== null) field('folder', run.outDir);
  if (run.checkpointPath !== null) field('checkpoint', run.checkpointPath);
  if (run.error !== null) field('error', run.error);
  if ((run.status === 'interrupted' || run.status === 'cancelled') && run.checkpointPath !== null && run.data !== null) {
    field('resume', `adjoin train --data ${run.data.source} --out ${run.outDir ?? '<folder>'} --resume --db ${dbFile}`);
  }
  if (run.cost !== null) {
    const c = run.cost;
    field(
      'cost',
      `full ${c.full.params.toLocaleString('en-US')} params, ${formatCount(c.full.macs)} MACs` +
        (c.small === null
          ? ''
          : `; small ${c.small.params.toLocaleString('en-US')} params, ${formatCount(c.small.macs)} MACs (${(c.full.macs / c.small.macs).toFixed(2)}× fewer)`),
    );
  }
  if (run.val.full !== null)
    field('accuracy', `full ${percent(run.val.full.accuracy)}${run.val.small === null ? '' : `, small ${percent(run.val.small.accuracy)}`}`);
  field('config', JSON.stringify(run.config));

  lines.push(...epochLines(d));
  if (d.steps.length > 0) {
    const last = d.steps[d.steps.length - 1]!;
    lines.push(`  ${d.steps.length} sampled steps; last: step ${last.globalStep}, loss ${last.loss.toFixed(4)}, ${last.imagesPerSecond.toFixed(0)} img/s`);
  }
  if (run.search !== null) lines.push(...searchLines(run.search));
  for (const e of d.danChoices) {
    lines.push(`  DAN epoch ${e.epoch}${e.tau === null ? '' : ` (τ ${e.tau.toFixed(2)})`}: ${e.choices.map((c) => `${c.group}=α${c.alpha}`).join(', ')}`);
  }
  lines.push(...exportLines(d));
  return lines.join('\n');
}

export function showCommand(argv: string[], out: (s: string) => void): number {
  const { values, positionals } = parse(argv, { json: { type: 'boolean' }, db: { type: 'string' } }, true);
  const id = runIdArg(positionals, 'show');
  const store = openExisting(values.db);
  try {
    const d = runDetails(store, id);
    out(values.json === true ? JSON.stringify(d) : renderRun(d, store.file));
    // A damaged stored export is a failure worth an exit code, after it is shown.
    return d.models.some((m) => m.integrity !== 'ok') ? 1 : 0;
  } finally {
    store.close();
  }
}

export const showCmd: Command = { name: 'show', usage: SHOW_USAGE, run: (argv, io) => showCommand(argv, io.out) };
