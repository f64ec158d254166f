import { resolve } from 'node:path';
import { InputError } from '../../shared/errors.js';
import type { ExportTiming } from '../../shared/export.js';
import { runOneShot } from '../jobs/host/one-shot.js';
import { intArg, parse } from './args.js';
import type { Command, CommandIo } from './command.js';
import { formatCount, percent } from './format.js';

const DEFAULT_RUNS = 200;
/** As adjoin export times: a few untimed runs load the weights and warm the caches. */
const DEFAULT_WARMUP = 5;

const LATENCY_USAGE = `adjoin latency DIR [DIR…] [--runs N] [--warmup N] [--json]
  Batch-1 latency of models written by adjoin export (each DIR an --out folder; name one with label=DIR), one
  thread each, timed round-robin in one process so that they can be compared: which small network to ship.
  Each model is run --warmup times untimed (default ${DEFAULT_WARMUP}), then --runs times (default 200); the median is kept.`;

function table(timings: readonly ExportTiming[]): string[] {
  const rows = timings.map((t) => [
    t.label,
    `${t.arch} ${t.network}`,
    `${t.format} ${t.precision}`,
    formatCount(t.params),
    formatCount(t.macs),
    t.validationAccuracy === null ? '—' : percent(t.validationAccuracy),
    `${t.latency.medianMs.toFixed(3)} ms`,
  ]);
  const head = ['model', 'network', 'format', 'params', 'MACs', 'val top-1', 'batch-1 median'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  const runtimes = [...new Set(timings.map((t) => t.latency.runtime))];
  return [
    line(head),
    ...rows.map(line),
    `timed in ${runtimes.join(', ')}: median of ${timings[0]!.latency.runs} runs after ${timings[0]!.latency.warmup} warm-up runs`,
  ];
}

export async function latencyCommand(argv: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parse(argv, { runs: { type: 'string' }, warmup: { type: 'string' }, json: { type: 'boolean' } }, true);
  if (positionals.length === 0) throw new InputError('give one or more folders written by adjoin export', 'dir');
  const runs = intArg(values.runs, 'runs', DEFAULT_RUNS);
  const warmup = intArg(values.warmup, 'warmup', DEFAULT_WARMUP);
  if (runs < 1) throw new InputError(`--runs must be at least 1 (got ${runs})`, 'runs');
  if (warmup < 0) throw new InputError(`--warmup cannot be negative (got ${warmup})`, 'warmup');
  // The job process may start elsewhere: it gets absolute folders, each with the label the user gave.
  const dirs = positionals.map((p) => {
    const eq = p.indexOf('=');
    return eq > 0 ? `${p.slice(0, eq)}=${resolve(p.slice(eq + 1))}` : resolve(p);
  });
  // Timing runs models, so it happens in a job process, as an export does.
  const timings = await runOneShot({ kind: 'latency', dirs, runs, warmup }, { onLog: (_level, message) => io.err(`adjoin: ${message}…\n`) });
  if (values.json === true) io.out(JSON.stringify(timings));
  else for (const l of table(timings)) io.out(l);
  return 0;
}

export const latencyCmd: Command = { name: 'latency', usage: LATENCY_USAGE, run: latencyCommand };
