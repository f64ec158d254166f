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
import { classFolderOf, listImageFolder } from './folder-layout.js';
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
  if (listing === null) {
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

  // What each file turned out to be, kept compactly (a few bytes a file, not an object):
  // folders of a million images must scan in bounded memory.
  const n = listing.files.length;
  const FAILED = 0;
  const USABLE = 1;
  const TRUNCATED = 2;
  const status = new Uint8Array(n);
  const widths = new Uint32Array(n);
  const heights = new Uint32Array(n);
  const flags = new Uint8Array(n);
  const [GRAY, ALPHA, HIGH, ANIMATED] = [1, 2, 4, 8];
  // The failures and warnings, by file index (only files that have one).
  const noted = new Map<number, DatasetProblem>();
  const fileTypes: Record<string, number> = {};
  await forEachBounded(
    listing.files,
    options.concurrency ?? 8,
    async (f, i) => {
      const r = await inspect(f, maxPixels);
      fileTypes[r.type] = (fileTypes[r.type] ?? 0) + 1;
      if (!r.ok) {
        noted.set(i, r.problem);
        return;
      }
      if (r.warning !== null) noted.set(i, r.warning);
      status[i] = r.warning?.kind === 'truncated' ? TRUNCATED : USABLE;
      widths[i] = r.info.width;
      heights[i] = r.info.height;
      flags[i] = (r.info.gray ? GRAY : 0) | (r.info.alpha ? ALPHA : 0) | (r.info.highBitDepth ? HIGH : 0) | (r.info.animated ? ANIMATED : 0);
    },
    options.signal,
  );

  // Thumbnails come from the training side, complete files first; a file
  // whose header passed but whose pixels do not decode is skipped like any other.
  const perClass = options.thumbnailsPerClass ?? 3;
  const thumbnails: string[][] = listing.classes.map(() => []);
  const candidates: number[][] = listing.classes.map(() => []);
  for (let i = 0; i < n; i++) {
    const f = listing.files[i]!;
    if (status[i] === USABLE && !f.inValFolder) candidates[f.label]!.push(i);
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
          status[i] = FAILED;
          noted.set(i, problem(f.rel, failure.kind, failure.message));
        }
      }
    },
    options.signal,
  );

  const split: SplitPlan = listing.folderSplit ?? { kind: 'stratified', fraction: options.valSplit ?? DEFAULT_IMPORT_SETTINGS.valSplit, seed: 0 };
  const classes: ClassSummary[] = listing.classes.map((c, label) => ({
    name: c.name,
    folder: classFolderOf(c),
    train: 0,
    val: 0,
    skipped: 0,
    thumbnails: thumbnails[label]!,
  }));
  const problems: DatasetProblem[] = listing.problems.slice();
  const stats = new ImageStatsAccumulator();
  let usable = 0;
  let totalBytes = 0;
  for (let i = 0; i < n; i++) {
    const f = listing.files[i]!;
    totalBytes += f.size;
    const c = classes[f.label]!;
    const note = noted.get(i);
    if (status[i] === FAILED) {
      if (note !== undefined) problems.push(note);
      c.skipped++;
      continue;
    }
    if (note !== undefined) problems.push(note);
    const fl = flags[i]!;
    stats.add({
      width: widths[i]!,
      height: heights[i]!,
      gray: (fl & GRAY) !== 0,
      alpha: (fl & ALPHA) !== 0,
      highBitDepth: (fl & HIGH) !== 0,
      animated: (fl & ANIMATED) !== 0,
    });
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

  for (const p of classProblems(classes, split)) problems.push(p);
  const imageStats = stats.result();
  return finish(
    {
      root,
      name: basename(root),
      layout: listing.layout,
      split,
      classes,
      files: { seen: listing.seen, images: usable, skipped: n - usable },
      fileTypes,
      totalBytes,
      images: imageStats,
      suggested: suggest(imageStats),
    },
    problems,
    maxProblems,
    started,
  );
}
