import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import sharp from 'sharp';
import { InputError } from '../../shared/errors.js';
import { sweepPlotSvg } from '../../shared/sweep-plot.js';
import {
  cellConfig,
  configLabel,
  expandGrid,
  shippedPoints,
  statsCsv,
  statsMarkdown,
  validateSweepSpec,
  type SweepSpec,
  combineSweeps,
  type ConfigStats,
  type SweepView,
} from '../../shared/sweep.js';
import { DEFAULT_KD, TRAIN_MODES, type TrainMode } from '../../shared/train-config.js';
import { datasetCacheDir } from '../app-paths.js';
import { JobManager } from '../jobs/host/manager.js';
import { RemoteRuns } from '../jobs/host/queue/remote-runs.js';
import { runRemoteSweep } from '../jobs/host/queue/remote-sweep.js';
import { runSweep, sweepView } from '../jobs/host/sweep.js';
import { checkQueue } from '../jobs/queue/connect.js';
import { redactQueueUrl } from '../../shared/queue-url.js';
import { openStore } from '../store/open.js';
import type { Store } from '../store/store.js';
import { numberArg, optionalIntArg, parse } from './args.js';
import { checkTrainConfig } from '../../shared/run-check.js';
import type { Command, CommandIo } from './command.js';
import { dateTime } from './runs-command.js';
import { RUN_FLAGS, draftModel, openRunData, queueOption, runSettings, workersOption } from './run-options.js';
import { dbFile, openExisting, runIdArg } from './store-args.js';

const SWEEP_USAGE = `adjoin sweep --data <dir|idx folder> --arch resnet18 --width 0.25 --modes standard,small,kd,an --alpha 2,4,8 --seeds 0,1,2 --epochs N
             [--small-ce 0,1] [--recipe short|cifar|imagenet] [--parallel K] [--kd-temperature 4] [--kd-weight 0.9] [--out DIR] [--db FILE] [--json] …(train's options)
             [--queue redis://[user:password@]host:port [--checkpoint-limit MB]]
  adjoin sweep resume <id> [--parallel K] [--workers N] [--out DIR] [--db FILE] [--json]
  adjoin sweep show <id>[,<id>…] [--out DIR] [--json] [--db FILE]   (an id may be FILE:ID: a sweep of another history database)
  adjoin sweep list [--json] [--db FILE]
  Trains the grid (kd waits for the standard run of its seed), at most K runs at once, under one sweep id; resumes an
  interrupted sweep where it stopped; reports per configuration the mean ± s.d. over seeds of full and small top-1,
  params, MACs and time, as a Markdown/CSV table and an accuracy-vs-MACs plot (SVG, PNG) with the Pareto front.`;

function list(value: string | undefined, flag: string, fallback: string): string[] {
  const parts = (value ?? fallback).split(',').map((p) => p.trim());
  if (parts.some((p) => p === '')) throw new InputError(`--${flag} must be a comma-separated list, got '${value}'`, flag);
  return parts;
}

function numbers(value: string | undefined, flag: string, fallback: string, integer: boolean): number[] {
  return list(value, flag, fallback).map((p) => {
    const n = Number(p);
    if (!Number.isFinite(n) || (integer && !Number.isInteger(n)))
      throw new InputError(`--${flag} has '${p}', not ${integer ? 'an integer' : 'a number'}`, flag);
    return n;
  });
}

function modes(value: string | undefined): TrainMode[] {
  return list(value, 'modes', 'standard,small,kd,an').map((m) => {
    if (!(TRAIN_MODES as readonly string[]).includes(m)) throw new InputError(`--modes has '${m}' (choose from ${TRAIN_MODES.join(', ')})`, 'modes');
    return m as TrainMode;
  });
}

function parallelArg(value: string | undefined): number {
  return optionalIntArg(value, 'parallel') ?? Math.max(1, availableParallelism());
}

/** Writes table.md, table.csv, plot.svg and plot.png of a sweep into `dir`. */
export async function writeSweepReport(stats: ConfigStats[], dir: string, title: string): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  const svg = sweepPlotSvg(shippedPoints(stats), { title });
  const files = {
    'table.md': `${statsMarkdown(stats)}\n`,
    'table.csv': `${statsCsv(stats)}\n`,
    'plot.svg': svg,
  };
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  // The README shows the PNG (some viewers do not render SVG).
  await sharp(Buffer.from(svg), { density: 144 }).png().toFile(join(dir, 'plot.png'));
  return [...Object.keys(files), 'plot.png'].map((f) => join(dir, f));
}

function title(spec: SweepSpec, networks: readonly SweepSpec['model'][]): string {
  const names = [...new Set(networks.map((m) => `${m.arch} width ${m.width}`))].join(' and ');
  return `${names}, ${spec.epochs} epochs, ${spec.seeds.length} seed${spec.seeds.length === 1 ? '' : 's'}`;
}

async function finish(views: SweepView[], name: string, values: { json?: boolean | undefined; out?: string | undefined }, io: CommandIo): Promise<void> {
  const { spec, stats } = combineSweeps(views);
  const sweepIds = views.map((v) => v.sweepId);
  if (values.json === true) io.out(JSON.stringify({ type: 'sweep-result', sweepId: sweepIds[0], sweepIds, stats, cells: views.flatMap((v) => v.cells) }));
  else io.out(`\n${name}:\n${statsMarkdown(stats)}`);
  if (values.out !== undefined) {
    const files = await writeSweepReport(
      stats,
      resolve(values.out),
      title(
        spec,
        views.map((v) => v.spec.model),
      ),
    );
    io.err(`wrote ${files.join(', ')}\n`);
  }
}

async function execute(
  store: Store,
  sweepId: number,
  parallel: number,
  values: { json?: boolean | undefined; out?: string | undefined; workers?: string | undefined; 'checkpoint-limit'?: string | undefined },
  io: CommandIo,
): Promise<number> {
  // --workers N: engines per run; by default the cores are shared among the runs at once.
  const workers = workersOption(values).workers;
  const env = workers === undefined ? process.env : { ...process.env, ADJOIN_TRAIN_WORKERS: String(workers) };
  const runsDir = join(dirname(store.file), 'runs');
  const manager = new JobManager(store, { runsDir, cacheDir: datasetCacheDir(), concurrency: parallel, env });
  const queue = store.sweeps.require(sweepId).queue;
  const remote = queue === null ? null : new RemoteRuns(manager, { runsDir, cacheDir: datasetCacheDir(), onWarning: (m) => io.err(`adjoin: warning: ${m}\n`) });
  const limit = values['checkpoint-limit'] === undefined ? null : queueOption({ queue: queue ?? '', 'checkpoint-limit': values['checkpoint-limit'] });
  if (remote !== null && limit !== null) remote.rememberTransferLimit(limit.transferLimitBytes);
  let stop = false;
  io.onInterrupt(() => (stop = true));
  const cells = expandGrid(store.sweeps.require(sweepId).spec).length;
  io.err(
    queue === null
      ? `sweep ${sweepId}: ${cells} runs, at most ${parallel} at once, recorded in ${store.file}\n`
      : `sweep ${sweepId}: ${cells} runs on the queue at ${redactQueueUrl(queue)}, recorded in ${store.file}\n`,
  );
  let status: Awaited<ReturnType<typeof runSweep>>;
  try {
    // Runs of this sweep a host that has gone left on the queue are followed again first.
    remote?.followAgain();
    const sweepOptions: Parameters<typeof runSweep>[2] = {
      stopRequested: () => (stop ? 'cancelled' : null),
      onProgress: (p) => {
        if (values.json === true) io.out(JSON.stringify({ type: 'sweep-cell', ...p }));
        else if (p.state !== 'running' && p.state !== 'waiting') {
          io.err(
            `  ${configLabel(p.cell)} seed ${p.cell.seed}: ${p.state}${p.runId === null ? '' : ` (run ${p.runId})`}${p.error === null ? '' : ` — ${p.error}`}\n`,
          );
        }
      },
    };
    status = remote === null ? await runSweep(manager, sweepId, sweepOptions) : await runRemoteSweep(remote, sweepId, sweepOptions);
  } finally {
    // Whatever stopped the sweep, its runs checkpoint and stop before the store closes.
    await manager.stopAll('checkpoint-and-stop');
  }
  await finish([sweepView(store, sweepId)], `sweep ${sweepId}`, values, io);
  io.err(`sweep ${sweepId} ${status}${status === 'cancelled' ? ` (adjoin sweep resume ${sweepId} continues it)` : ''}\n`);
  return status === 'finished' ? 0 : status === 'cancelled' ? 130 : 1;
}

async function startCommand(argv: string[], io: CommandIo): Promise<number> {
  const { values } = parse(argv, {
    ...RUN_FLAGS,
    modes: { type: 'string' },
    alpha: { type: 'string' },
    seeds: { type: 'string' },
    'small-ce': { type: 'string' },
    parallel: { type: 'string' },
    'kd-temperature': { type: 'string' },
    'kd-weight': { type: 'string' },
  });
  if (values.resume === true) throw new InputError('use adjoin sweep resume <id> to continue a sweep', 'resume');
  // --small-ce is a list of β here, not one value.
  const settings = runSettings({ ...values, 'small-ce': undefined });
  const onQueue = queueOption(values);
  if (onQueue !== null && values.parallel !== undefined) {
    throw new InputError(
      "--parallel applies to sweeps on this machine; on a queue, each worker's --concurrency says how many runs it trains at once",
      'parallel',
    );
  }
  const parallel = parallelArg(values.parallel);
  const draft: SweepSpec = {
    data: { path: '', settings: {}, limitTrain: null, limitVal: null },
    model: draftModel(settings),
    modes: modes(values.modes),
    alphas: numbers(values.alpha, 'alpha', '2,4,8', true),
    seeds: numbers(values.seeds, 'seeds', '0,1,2', true),
    epochs: settings.epochs,
    batchSize: settings.batchSize,
    optimizer: settings.optimizer,
    schedule: settings.schedule,
    loss: settings.loss,
    // Without --small-ce, the an runs take the recipe's β (short: 1; the paper's: 0).
    smallCes: numbers(values['small-ce'], 'small-ce', String(settings.loss.smallCe), false),
    augmentation: settings.augmentation,
    kd: {
      temperature: numberArg(values['kd-temperature'], 'kd-temperature', DEFAULT_KD.temperature),
      weight: numberArg(values['kd-weight'], 'kd-weight', DEFAULT_KD.weight),
    },
    checkpointEvery: settings.checkpointEvery,
  };
  validateSweepSpec(draft);
  // A queue that is not there, or refuses the password, is named before the data is read.
  if (onQueue !== null) await checkQueue(onQueue.queue);
  const data = await openRunData(values, io);
  const spec: SweepSpec = { ...draft, data: data.source, model: { ...draft.model, ...data.input } };
  validateSweepSpec(spec);
  for (const cell of expandGrid(spec)) checkTrainConfig(cellConfig(spec, cell, cell.mode === 'kd' ? { network: 'teacher', runId: 0 } : null));
  const store = openStore(dbFile(values.db));
  try {
    const sweepId = store.sweeps.create(spec, { pid: process.pid, host: hostname() }, Date.now(), onQueue?.queue ?? null);
    return await execute(store, sweepId, parallel, values, io);
  } finally {
    store.close();
  }
}

async function resumeCommand(argv: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parse(
    argv,
    { parallel: { type: 'string' }, workers: { type: 'string' }, db: { type: 'string' }, json: { type: 'boolean' }, out: { type: 'string' } },
    true,
  );
  const sweepId = runIdArg(positionals, 'sweep resume');
  const store = openExisting(values.db);
  try {
    const sweep = store.sweeps.require(sweepId);
    if (sweep.status === 'running') throw new InputError(`sweep ${sweepId} is running in another process (pid ${sweep.owner.pid ?? '?'})`, 'sweep');
    if (sweep.status === 'finished') io.err(`sweep ${sweepId} has finished; nothing to resume\n`);
    return await execute(store, sweepId, parallelArg(values.parallel), values, io);
  } finally {
    store.close();
  }
}

/** `3` or `3,5`: the sweeps `adjoin sweep list` lists. */
/** One sweep `sweep show` reports: its id, and the history it is in (null: --db's, or the app's). */
interface SweepRef {
  db: string | null;
  id: number;
}

/**
 * `3`, `1,2`, or with sweeps of other history databases, `1,other.db:4`
 * (FILE:ID): sweeps run on another machine or into another --db can be
 * reported side by side with this one's.
 */
function sweepRefsArg(positionals: readonly string[]): SweepRef[] {
  if (positionals.length !== 1)
    throw new InputError(
      `adjoin sweep show takes one sweep id or a comma-separated list, got ${positionals.length === 0 ? 'none' : positionals.join(' ')}`,
      'sweep',
    );
  const refs = positionals[0]!.split(',').map((p): SweepRef => {
    const colon = p.lastIndexOf(':');
    const db = colon > 0 ? resolve(p.slice(0, colon)) : null;
    const id = colon > 0 ? p.slice(colon + 1) : p;
    if (!/^[1-9][0-9]{0,15}$/.test(id.trim())) throw new InputError(`a sweep id is a positive integer (or FILE:ID), got '${p}'`, 'sweep');
    return { db, id: Number(id) };
  });
  const names = refs.map((r) => `${r.db ?? ''}:${r.id}`);
  if (new Set(names).size !== names.length) throw new InputError(`sweep ids repeat: ${positionals[0]}`, 'sweep');
  return refs;
}

async function showCommand(argv: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parse(argv, { db: { type: 'string' }, json: { type: 'boolean' }, out: { type: 'string' } }, true);
  const refs = sweepRefsArg(positionals);
  const stores = new Map<string | null, Store>();
  try {
    for (const r of refs) if (!stores.has(r.db)) stores.set(r.db, openExisting(r.db ?? values.db));
    const views = refs.map((r) => {
      const store = stores.get(r.db)!;
      const sweep = store.sweeps.require(r.id);
      const view = sweepView(store, r.id);
      if (values.json !== true) {
        const name = r.db === null ? `sweep ${r.id}` : `sweep ${r.id} of ${r.db}`;
        const pending = view.cells.filter((c) => c.state !== 'finished');
        io.out(`${name} (${sweep.status}, started ${dateTime(sweep.createdAt)}): ${view.cells.length - pending.length} of ${view.cells.length} runs finished`);
        for (const c of pending) {
          io.out(
            `  ${configLabel(c.cell)} seed ${c.cell.seed}: ${c.state}${c.runId === null ? '' : ` (run ${c.runId})`}${c.error === null ? '' : ` — ${c.error}`}`,
          );
        }
      }
      return view;
    });
    const name = `sweep${refs.length > 1 ? 's' : ''} ${refs.map((r) => (r.db === null ? String(r.id) : `${r.db}:${r.id}`)).join(', ')}`;
    await finish(views, name, values, io);
    return 0;
  } finally {
    for (const store of stores.values()) store.close();
  }
}

function listCommand(argv: string[], io: CommandIo): number {
  const { values } = parse(argv, { db: { type: 'string' }, json: { type: 'boolean' } });
  const store = openExisting(values.db);
  try {
    const sweeps = store.sweeps.list();
    if (values.json === true) {
      io.out(
        JSON.stringify(
          sweeps.map((s) => ({ id: s.id, status: s.status, createdAt: s.createdAt, finishedAt: s.finishedAt, runs: expandGrid(s.spec).length, spec: s.spec })),
        ),
      );
      return 0;
    }
    if (sweeps.length === 0) io.out(`no sweeps in ${store.file}`);
    for (const s of sweeps) {
      io.out(
        `${String(s.id).padStart(4)}  ${s.status.padEnd(11)} ${dateTime(s.createdAt)}  ${s.spec.model.arch} w${s.spec.model.width}  modes ${s.spec.modes.join(',')}  α ${s.spec.alphas.join(',')}  seeds ${s.spec.seeds.join(',')}  ${expandGrid(s.spec).length} runs`,
      );
    }
    return 0;
  } finally {
    store.close();
  }
}

export async function sweepCommand(argv: string[], io: CommandIo): Promise<number> {
  switch (argv[0]) {
    case 'resume':
      return resumeCommand(argv.slice(1), io);
    case 'show':
      return showCommand(argv.slice(1), io);
    case 'list':
      return listCommand(argv.slice(1), io);
    default:
      return startCommand(argv, io);
  }
}

export const sweepCmd: Command = { name: 'sweep', usage: SWEEP_USAGE, run: sweepCommand };
