import type { RunRecord } from '../../shared/history.js';
import { parse } from './args.js';
import type { Command } from './command.js';
import { percent } from './format.js';
import { openExisting } from './store-args.js';

const RUNS_USAGE = `adjoin runs [--json] [--db FILE]
  The training runs in the history, newest first.`;

/** The one-line description of a run's model that lists and details share. */
export function modelLabel(run: RunRecord): string {
  const m = run.config.model;
  const mode = run.config.mode === 'an' ? `AN α=${typeof run.config.alpha === 'number' ? run.config.alpha : 'per group'}` : 'standard';
  return `${m.arch} ${m.stem} w${m.width} ${mode}`;
}

export function dateTime(ms: number | null): string {
  if (ms === null) return '-';
  const d = new Date(ms);
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
}

export function runSummary(run: RunRecord) {
  return {
    id: run.id,
    status: run.status,
    arch: run.config.model.arch,
    stem: run.config.model.stem,
    width: run.config.model.width,
    mode: run.config.mode,
    alpha: run.config.alpha,
    dataset: run.data?.name ?? null,
    epochs: run.config.epochs,
    epochsDone: run.epochsDone,
    valAccuracy: { full: run.val.full?.accuracy ?? null, small: run.val.small?.accuracy ?? null },
    backend: run.backend,
    worker: run.worker,
    createdAt: run.createdAt,
    finishedAt: run.finishedAt,
    outDir: run.outDir,
    error: run.error,
  };
}

export function runsCommand(argv: string[], out: (s: string) => void): number {
  const { values } = parse(argv, { json: { type: 'boolean' }, db: { type: 'string' } });
  const store = openExisting(values.db);
  try {
    const runs = store.runs.list();
    if (values.json === true) {
      out(JSON.stringify(runs.map(runSummary)));
      return 0;
    }
    if (runs.length === 0) {
      out(`no runs yet in ${store.file}`);
      return 0;
    }
    const rows = [
      ['id', 'status', 'created', 'model', 'data', 'epochs', 'val full', 'val small', 'backend'],
      ...runs.map((r) => [
        String(r.id),
        r.status,
        dateTime(r.createdAt),
        modelLabel(r),
        r.data?.name ?? '-',
        `${r.epochsDone}/${r.config.epochs}`,
        r.val.full === null ? '-' : percent(r.val.full.accuracy),
        r.val.small === null ? '-' : percent(r.val.small.accuracy),
        r.worker === null ? (r.backend ?? '-') : `${r.backend ?? '-'} on ${r.worker.name}`,
      ]),
    ];
    const widths = rows[0]!.map((_, c) => rows.reduce((w, row) => Math.max(w, row[c]!.length), 0));
    for (const row of rows)
      out(
        row
          .map((cell, c) => cell.padEnd(widths[c]!))
          .join('  ')
          .trimEnd(),
      );
    return 0;
  } finally {
    store.close();
  }
}

export const runsCmd: Command = { name: 'runs', usage: RUNS_USAGE, run: (argv, io) => runsCommand(argv, io.out) };
