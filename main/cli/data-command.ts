import { importSettings, RESIZE_MODES, type ImportProgress, type ImportSettings } from '../../shared/dataset.js';
import { resolve } from 'node:path';
import { InputError } from '../../shared/errors.js';
import { datasetCacheDir } from '../app-paths.js';
import type { JobHandle } from '../jobs/host/job-host.js';
import { runOneShot } from '../jobs/host/one-shot.js';
import { choiceArg, intArg, numberArg, parse } from './args.js';
import type { Command, CommandIo } from './command.js';
import { renderProgress, renderRecord, renderScan } from './dataset-format.js';

const DATA_USAGE = `adjoin data scan <dir> [--json] [--thumbnails N] [--val-split F] [--follow-links]
  Summarises a dataset folder without importing it: classes and counts, file types, sizes, problems by file.
  Exits 2 if the dataset cannot be used as it is.

  adjoin data import <dir> [--size 32] [--channels 1|3] [--resize crop|stretch] [--val-split 0.2] [--split-seed N] [--follow-links] [--json]
  Decodes an image folder into the dataset cache (a second import of the same folder reads the cache).`;

/** Where imported datasets are cached: rebuildable, so under the app's cache folder. */
function folderArg(positionals: string[], sub: string): string {
  if (positionals.length !== 1) throw new InputError(`adjoin data ${sub} needs exactly one folder, got ${positionals.length}`, 'data');
  return positionals[0]!;
}

async function scanCommand(argv: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parse(
    argv,
    { json: { type: 'boolean' }, thumbnails: { type: 'string' }, 'val-split': { type: 'string' }, 'follow-links': { type: 'boolean' } },
    true,
  );
  const dir = folderArg(positionals, 'scan');
  const thumbnails = intArg(values.thumbnails, 'thumbnails', values.json === true ? 3 : 0);
  if (thumbnails < 0 || thumbnails > 32) throw new InputError(`--thumbnails must be from 0 to 32, got ${thumbnails}`, 'thumbnails');
  const valSplit = importSettings({ valSplit: numberArg(values['val-split'], 'val-split', 0.2) }).valSplit;
  const scan = await runOneShot({
    kind: 'scan',
    path: resolve(dir),
    options: { thumbnailsPerClass: thumbnails, ...(valSplit === undefined ? {} : { valSplit }), followDirectoryLinks: values['follow-links'] === true },
  });
  io.out(values.json === true ? JSON.stringify(scan) : renderScan(scan));
  if (!scan.verdict.usable) {
    io.err(`adjoin: error: ${dir} cannot be used: ${scan.verdict.reason}\n`);
    return 2;
  }
  return 0;
}

/** Reads --size, --channels, --resize, --val-split and --split-seed; flags not given stay undefined. */
export function importSettingsArgs(values: Record<string, string | boolean | undefined>): Partial<ImportSettings> {
  const str = (k: string): string | undefined => (typeof values[k] === 'string' ? values[k] : undefined);
  const partial: Partial<ImportSettings> = {};
  if (str('size') !== undefined) partial.size = intArg(str('size'), 'size', 0);
  if (str('channels') !== undefined) partial.channels = intArg(str('channels'), 'channels', 0) as 1 | 3;
  if (str('resize') !== undefined) partial.resize = choiceArg(str('resize'), 'resize', RESIZE_MODES, 'crop');
  if (str('val-split') !== undefined) partial.valSplit = numberArg(str('val-split'), 'val-split', 0);
  if (str('split-seed') !== undefined) partial.splitSeed = intArg(str('split-seed'), 'split-seed', 0);
  importSettings(partial);
  return partial;
}

/** Shows import progress on a terminal as one live line; elsewhere stays quiet. */
export function progressPrinter(io: CommandIo): { show: (p: ImportProgress) => void; done: () => void } {
  let shown = false;
  return {
    show: (p) => {
      if (!io.errIsTty) return;
      io.err(`\r\x1b[2K${renderProgress(p)}`);
      shown = true;
    },
    done: () => {
      if (shown) io.err('\r\x1b[2K');
      shown = false;
    },
  };
}

async function importCommand(argv: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parse(
    argv,
    {
      json: { type: 'boolean' },
      size: { type: 'string' },
      channels: { type: 'string' },
      resize: { type: 'string' },
      'val-split': { type: 'string' },
      'split-seed': { type: 'string' },
      'follow-links': { type: 'boolean' },
    },
    true,
  );
  const dir = folderArg(positionals, 'import');
  const settings = importSettingsArgs(values);
  const json = values.json === true;
  let job: JobHandle | null = null;
  let interrupted = false;
  io.onInterrupt(() => {
    interrupted = true;
    job?.stop('cancel');
  });
  const printer = progressPrinter(io);
  try {
    const record = await runOneShot(
      { kind: 'import', path: resolve(dir), settings, cacheDir: datasetCacheDir(), followLinks: values['follow-links'] === true },
      {
        onStart: (h) => (job = h),
        onImportProgress: (_path, p) => (json ? io.out(JSON.stringify({ type: 'progress', ...p })) : printer.show(p)),
      },
    );
    printer.done();
    io.out(json ? JSON.stringify({ type: 'imported', record }) : renderRecord(record));
    return 0;
  } catch (e) {
    printer.done();
    if (interrupted) {
      io.err('import cancelled; nothing was stored\n');
      return 130;
    }
    throw e;
  }
}

export async function dataCommand(argv: string[], io: CommandIo): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'scan':
      return scanCommand(rest, io);
    case 'import':
      return importCommand(rest, io);
    default:
      throw new InputError(`adjoin data needs a subcommand: scan or import${sub === undefined ? '' : ` (got '${sub}')`}`, 'command');
  }
}

export const dataCmd: Command = { name: 'data', usage: DATA_USAGE, run: dataCommand };
