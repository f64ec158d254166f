import { readdirSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import {
  classProblems,
  countProblems,
  DEFAULT_IMPORT_SETTINGS,
  heldOut,
  problem,
  sortProblems,
  verdictOf,
  type ClassSummary,
  type DatasetLayout,
  type DatasetProblem,
  type DatasetScan,
  type ImageStats,
  type SplitPlan,
} from '../../../shared/dataset.js';
import { InputError } from '../../../shared/errors.js';
import { findCifar, loadCifar } from './cifar.js';
import { configureSharp, decodeFailure, DEFAULT_MAX_PIXELS } from './decode.js';
import { classFolderOf, listImageFolder, type FolderListing } from './folder-layout.js';
import { isIdxDir, loadIdx } from './idx.js';
import { notADatasetMessage } from './import-folder.js';
import { forEachBounded } from './pool.js';
import { ImageStatsAccumulator } from './image-stats.js';
import { inspect } from './inspect-file.js';
import { thumbnailOfFile, thumbnailOfPixels } from './thumbnail.js';
import type { TrainingData } from './types.js';

export interface ScanOptions {
  thumbnailsPerClass?: number;
  /** At most this many problems are listed (all are counted). */
  maxProblems?: number;
  maxPixels?: number;
  /** For the planned counts of a stratified split. */
  valSplit?: number;
  followDirectoryLinks?: boolean;
  /** Files inspected at once. */
  concurrency?: number;
  signal?: AbortSignal;
}

/** Small enough to train on a CPU, never larger than the images themselves. */
function suggest(stats: ImageStats | null): DatasetScan['suggested'] {
  if (stats === null) return { size: DEFAULT_IMPORT_SETTINGS.size, channels: DEFAULT_IMPORT_SETTINGS.channels };
  return { size: Math.max(8, Math.min(64, stats.medianShortSide)), channels: stats.colour === 0 ? 1 : 3 };
}

function finish(
  base: Pick<DatasetScan, 'root' | 'name' | 'layout' | 'split' | 'classes' | 'files' | 'fileTypes' | 'totalBytes' | 'images' | 'suggested'>,
  problems: DatasetProblem[],
  maxProblems: number,
  started: number,
): DatasetScan {
  const sorted = sortProblems(problems);
  return {
    ...base,
    problems: sorted.slice(0, maxProblems),
    problemCounts: countProblems(sorted),
    problemsOmitted: Math.max(0, sorted.length - maxProblems),
    verdict: verdictOf(sorted),
    seconds: (performance.now() - started) / 1000,
  };
}

/** Sizes of the files directly in a folder (for IDX and CIFAR folders). */
function bytesIn(dir: string): number {
  let total = 0;
  for (const name of readdirSync(dir)) {
    const s = statSync(join(dir, name), { throwIfNoEntry: false });
    if (s?.isFile() === true) total += s.size;
  }
  return total;
}

async function scanPacked(
  root: string,
  layout: DatasetLayout,
  load: () => TrainingData,
  dataDir: string,
  options: ScanOptions,
  started: number,
): Promise<DatasetScan> {
  const maxProblems = options.maxProblems ?? 200;
  const base = {
    root,
    name: basename(root),
    layout,
    split: { kind: 'files' } as SplitPlan,
    totalBytes: bytesIn(dataDir),
    fileTypes: { [layout === 'idx' ? 'idx' : 'cifar']: 1 },
  };
  let data: TrainingData;
  try {
    data = load();
  } catch (e) {
    if (!(e instanceof InputError)) throw e;
    const failed = { ...base, classes: [], files: { seen: 0, images: 0, skipped: 0 }, images: null, suggested: suggest(null) };
    return finish(failed, [problem('.', 'no-classes', e.message)], maxProblems, started);
  }
  const perClass = options.thumbnailsPerClass ?? 3;
  const pixels = data.height * data.width * data.channels;
  const classes: ClassSummary[] = data.classes.map((name) => ({ name, folder: null, train: 0, val: 0, skipped: 0, thumbnails: [] }));
  for (const l of data.train.labels) classes[l]!.train++;
  for (const l of data.val.labels) classes[l]!.val++;
  for (let i = 0; i < data.train.count; i++) {
    const c = classes[data.train.labels[i]!]!;
    if (c.thumbnails.length >= perClass) continue;
    c.thumbnails.push(await thumbnailOfPixels(data.train.images.subarray(i * pixels, (i + 1) * pixels), data.width, data.height, data.channels === 1 ? 1 : 3));
  }
  const count = data.train.count + data.val.count;
  const images: ImageStats = {
    minWidth: data.width,
    maxWidth: data.width,
    minHeight: data.height,
    maxHeight: data.height,
    medianShortSide: Math.min(data.width, data.height),
    gray: data.channels === 1 ? count : 0,
    colour: data.channels === 1 ? 0 : count,
    alpha: 0,
    highBitDepth: 0,
    animated: 0,
  };
  const problems = classProblems(classes, base.split);
  return finish(
    { ...base, classes, files: { seen: count, images: count, skipped: 0 }, images, suggested: { size: data.height, channels: data.channels === 1 ? 1 : 3 } },
    problems,
    maxProblems,
    started,
  );
}

const FAILED = 0;
const USABLE = 1;
const TRUNCATED = 2;
const [GRAY, ALPHA, HIGH, ANIMATED] = [1, 2, 4, 8];

/**
 * What each listed file turned out to be, kept compactly (a few bytes a
 * file, not an object): folders of a million images must scan in bounded
 * memory. Failures and warnings are kept by file index, for the files that
 * have one.
 */
class FileTable {
  readonly status: Uint8Array;
  readonly widths: Uint32Array;
  readonly heights: Uint32Array;
  readonly flags: Uint8Array;
  readonly noted = new Map<number, DatasetProblem>();
  readonly fileTypes: Record<string, number> = {};

  constructor(readonly n: number) {
    this.status = new Uint8Array(n);
    this.widths = new Uint32Array(n);
    this.heights = new Uint32Array(n);
    this.flags = new Uint8Array(n);
  }

  record(i: number, r: Awaited<ReturnType<typeof inspect>>): void {
    this.fileTypes[r.type] = (this.fileTypes[r.type] ?? 0) + 1;
    if (!r.ok) {
      this.noted.set(i, r.problem);
      return;
    }
    if (r.warning !== null) this.noted.set(i, r.warning);
    this.status[i] = r.warning?.kind === 'truncated' ? TRUNCATED : USABLE;
    this.widths[i] = r.info.width;
    this.heights[i] = r.info.height;
    this.flags[i] = (r.info.gray ? GRAY : 0) | (r.info.alpha ? ALPHA : 0) | (r.info.highBitDepth ? HIGH : 0) | (r.info.animated ? ANIMATED : 0);
  }

  info(i: number): { width: number; height: number; gray: boolean; alpha: boolean; highBitDepth: boolean; animated: boolean } {
    const fl = this.flags[i]!;
    return {
      width: this.widths[i]!,
      height: this.heights[i]!,
      gray: (fl & GRAY) !== 0,
      alpha: (fl & ALPHA) !== 0,
      highBitDepth: (fl & HIGH) !== 0,
      animated: (fl & ANIMATED) !== 0,
    };
  }
}

/** The summary of a folder that holds no class folders. */
function notADataset(root: string, rootArg: string, maxProblems: number, started: number): DatasetScan {
  const empty = {
    root,
    name: basename(root),
    layout: null,
    split: null,
    classes: [],
    files: { seen: readdirSync(root).length, images: 0, skipped: 0 },
    fileTypes: {},
    totalBytes: 0,
    images: null,
    suggested: suggest(null),
  };
  return finish(empty, [problem('.', 'no-classes', notADatasetMessage(rootArg))], maxProblems, started);
}

/**
 * A few thumbnails per class, from the training side, complete files
 * first; a file whose header passed but whose pixels do not decode is
 * marked failed like any other.
 */
async function thumbnailsOf(
  listing: FolderListing,
  table: FileTable,
  perClass: number,
  maxPixels: number,
  signal: AbortSignal | undefined,
): Promise<string[][]> {
  const thumbnails: string[][] = listing.classes.map(() => []);
  const candidates: number[][] = listing.classes.map(() => []);
  for (let i = 0; i < table.n; i++) {
    const f = listing.files[i]!;
    if (table.status[i] === USABLE && !f.inValFolder) candidates[f.label]!.push(i);
  }
  await forEachBounded(
    candidates,
    4,
    async (indices, label) => {
      for (const i of indices) {
        if (thumbnails[label]!.length >= perClass) break;
        const f = listing.files[i]!;
        try {
          thumbnails[label]!.push(await thumbnailOfFile(f.abs, maxPixels));
        } catch (e) {
          const failure = decodeFailure(e, maxPixels);
          table.status[i] = FAILED;
          table.noted.set(i, problem(f.rel, failure.kind, failure.message));
        }
      }
    },
    signal,
  );
  return thumbnails;
}

/** Counts per class (the split applied), every problem in file order, the image statistics and the bytes. */
function tally(
  listing: FolderListing,
  table: FileTable,
  classes: ClassSummary[],
  split: SplitPlan,
): { problems: DatasetProblem[]; stats: ImageStatsAccumulator; usable: number; totalBytes: number } {
  const problems: DatasetProblem[] = listing.problems.slice();
  const stats = new ImageStatsAccumulator();
  let usable = 0;
  let totalBytes = 0;
  for (let i = 0; i < table.n; i++) {
    const f = listing.files[i]!;
    totalBytes += f.size;
    const c = classes[f.label]!;
    const note = table.noted.get(i);
    if (note !== undefined) problems.push(note);
    if (table.status[i] === FAILED) {
      c.skipped++;
      continue;
    }
    stats.add(table.info(i));
    usable++;
    if (split.kind === 'folders' && f.inValFolder) c.val++;
    else c.train++;
  }
  if (split.kind === 'stratified') {
    for (const c of classes) {
      c.val = heldOut(c.train, split.fraction);
      c.train -= c.val;
    }
  }
  return { problems, stats, usable, totalBytes };
}

/**
 * Summarises a dataset folder for the user before anything is imported:
 * layout, classes and their counts, file types, sizes, sample thumbnails,
 * and every problem by file name. Reads headers only (plus a few
 * thumbnails), so it stays fast on thousands of files. Never throws for bad
 * content — that is what the summary reports; throws InputError only when
 * `root` is not a readable folder.
 */
export async function scanDataset(rootArg: string, options: ScanOptions = {}): Promise<DatasetScan> {
  const started = performance.now();
  const root = resolve(rootArg);
  const st = statSync(root, { throwIfNoEntry: false });
  if (st === undefined) throw new InputError(`data folder ${rootArg} does not exist`, 'data');
  if (!st.isDirectory()) throw new InputError(`data ${rootArg} is not a folder`, 'data');
  configureSharp();
  if (isIdxDir(root)) return scanPacked(root, 'idx', () => loadIdx(root), root, options, started);
  const cifar = findCifar(root);
  if (cifar !== null) return scanPacked(root, cifar.variant, () => loadCifar(cifar), cifar.dir, options, started);

  const maxProblems = options.maxProblems ?? 200;
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  const listing = await listImageFolder(root, { followDirectoryLinks: options.followDirectoryLinks === true });
  if (listing === null) return notADataset(root, rootArg, maxProblems, started);

  const table = new FileTable(listing.files.length);
  await forEachBounded(listing.files, options.concurrency ?? 8, async (f, i) => table.record(i, await inspect(f, maxPixels)), options.signal);
  const thumbnails = await thumbnailsOf(listing, table, options.thumbnailsPerClass ?? 3, maxPixels, options.signal);
  const split: SplitPlan = listing.folderSplit ?? { kind: 'stratified', fraction: options.valSplit ?? DEFAULT_IMPORT_SETTINGS.valSplit, seed: 0 };
  const classes: ClassSummary[] = listing.classes.map((c, label) => ({
    name: c.name,
    folder: classFolderOf(c),
    train: 0,
    val: 0,
    skipped: 0,
    thumbnails: thumbnails[label]!,
  }));
  const { problems, stats, usable, totalBytes } = tally(listing, table, classes, split);
  for (const p of classProblems(classes, split)) problems.push(p);
  const imageStats = stats.result();
  return finish(
    {
      root,
      name: basename(root),
      layout: listing.layout,
      split,
      classes,
      files: { seen: listing.seen, images: usable, skipped: table.n - usable },
      fileTypes: table.fileTypes,
      totalBytes,
      images: imageStats,
      suggested: suggest(imageStats),
    },
    problems,
    maxProblems,
    started,
  );
}
