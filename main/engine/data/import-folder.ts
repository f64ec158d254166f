import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import {
  classProblems,
  heldOut,
  importSettings,
  sortProblems,
  verdictOf,
  type ClassCounts,
  type DatasetProblem,
  type DatasetRecord,
  type ImportSettings,
  type SplitPlan,
} from '../../../shared/dataset.js';
import { InputError } from '../../../shared/errors.js';
import { permuteRecords } from './arrange.js';
import { cachePath, discardCache, readCache, removeStaleTemps, writeCache, type CachedDataset } from './cache-file.js';
import { contentKey } from './content-key.js';
import { decodeFolder, type DecodeFolderOptions } from './decode-folder.js';
import { configureSharp, DEFAULT_MAX_PIXELS, type DecodeSettings } from './decode.js';
import { classFolderOf, listImageFolder, type FolderListing } from './folder-layout.js';
import { ProgressMeter } from './progress-meter.js';
import { splitDataset } from './split.js';
import type { TrainingData } from './types.js';

export interface ImportOptions extends DecodeFolderOptions {
  /** Where decoded datasets are kept (the app's cache folder); the importer never writes into the dataset. */
  cacheDir: string;
  settings?: Partial<ImportSettings>;
  /** Images above this many pixels are skipped (default 40 MP). */
  maxPixels?: number;
  followDirectoryLinks?: boolean;
}

export interface ImportedDataset {
  data: TrainingData;
  record: DatasetRecord;
}

export function notADatasetMessage(root: string): string {
  return (
    `${root} is not a dataset Adjoin can read: it has no class folders ` +
    `(put each class's images in a folder of its own, e.g. cat/001.jpg), no IDX files and no CIFAR batches`
  );
}

async function requireFolder(root: string): Promise<void> {
  let isDir: boolean;
  try {
    isDir = (await stat(root)).isDirectory();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new InputError(code === 'ENOENT' ? `data folder ${root} does not exist` : `cannot read data folder ${root} (${code ?? 'error'})`, 'data');
  }
  if (!isDir) throw new InputError(`data ${root} is not a folder`, 'data');
}

function splitPlanOf(listing: FolderListing, settings: ImportSettings): SplitPlan {
  return listing.folderSplit ?? { kind: 'stratified', fraction: settings.valSplit, seed: settings.splitSeed };
}

/** Per-class counts of the given images, as the split will divide them. */
function plannedCounts(listing: FolderListing, labels: ArrayLike<number>, inValFolder: ArrayLike<number>, plan: SplitPlan): ClassCounts[] {
  const counts = listing.classes.map((c) => ({ name: c.name, folder: classFolderOf(c), train: 0, val: 0 }));
  for (let i = 0; i < labels.length; i++) {
    const c = counts[labels[i]!]!;
    if (plan.kind === 'folders' && inValFolder[i] === 1) c.val++;
    else c.train++;
  }
  if (plan.kind === 'stratified') {
    for (const c of counts) {
      c.val = heldOut(c.train, plan.fraction);
      c.train -= c.val;
    }
  }
  return counts;
}

function refuseIfUnusable(root: string, problems: DatasetProblem[]): void {
  const verdict = verdictOf(problems);
  if (!verdict.usable) throw new InputError(`${root} cannot be used: ${verdict.reason}`, 'data');
}

/** Splits a stored dataset into the engine's train and validation arrays, in place. */
function toTrainingData(root: string, d: CachedDataset, plan: SplitPlan): { data: TrainingData; split: ReturnType<typeof splitDataset> } {
  const { header, pixels, labels, inValFolder } = d;
  const items = header.files.map((rel, i) => ({ rel, label: labels[i]!, inValFolder: inValFolder[i] === 1 }));
  const split = splitDataset(items, header.classes.length, {
    folderSplit: plan.kind === 'folders',
    fraction: plan.kind === 'stratified' ? plan.fraction : 0,
    seed: plan.kind === 'stratified' ? plan.seed : 0,
  });
  const order = new Int32Array(header.count);
  order.set(split.train, 0);
  order.set(split.val, split.train.length);
  const pixelsPerImage = header.size * header.size * header.channels;
  permuteRecords(pixels, pixelsPerImage, order);
  const nTrain = split.train.length;
  const data: TrainingData = {
    name: header.name,
    source: root,
    classes: header.classes.map((c) => c.name),
    height: header.size,
    width: header.size,
    channels: header.channels,
    train: { images: pixels.subarray(0, nTrain * pixelsPerImage), labels: Int32Array.from(split.train, (i) => labels[i]!), count: nTrain },
    val: {
      images: pixels.subarray(nTrain * pixelsPerImage, header.count * pixelsPerImage),
      labels: Int32Array.from(split.val, (i) => labels[i]!),
      count: split.val.length,
    },
  };
  return { data, split };
}

/**
 * The decoded images: read from the cache when a sound file is there,
 * else decoded (a damaged cache file is discarded first) — refused if
 * skipped files leave a class empty — and written to the cache atomically.
 */
async function cachedOrDecoded(
  root: string,
  rootArg: string,
  listing: FolderListing,
  key: string,
  decode: DecodeSettings,
  plan: SplitPlan,
  options: ImportOptions,
): Promise<{ dataset: CachedDataset; decodeProblems: DatasetProblem[]; bytes: number; repaired: string | null; decoded: number; hit: boolean }> {
  await removeStaleTemps(options.cacheDir);
  const total = listing.files.length;
  const readMeter = new ProgressMeter('reading-cache', total, options.onProgress, options.progressEveryMs);
  const cached = await readCache(options.cacheDir, key, (done, all) => readMeter.update(Math.round((total * done) / all)));
  if (cached.ok) return { dataset: cached.dataset, decodeProblems: cached.dataset.header.problems, bytes: cached.bytes, repaired: null, decoded: 0, hit: true };
  let repaired: string | null = null;
  if (!cached.missing) {
    repaired = cached.reason;
    await discardCache(options.cacheDir, key);
  }
  const dataset = await decodeFolder(root, rootArg, listing, key, decode, options);
  const decodeProblems = dataset.header.problems;
  const counts = plannedCounts(listing, dataset.labels, dataset.inValFolder, plan);
  refuseIfUnusable(rootArg, explainEmptyClasses(classProblems(counts, plan), listing, decodeProblems));
  const writeMeter = new ProgressMeter('writing-cache', dataset.header.count, options.onProgress, options.progressEveryMs);
  const bytes = await writeCache(options.cacheDir, dataset, {
    ...(options.signal ? { signal: options.signal } : {}),
    onBytes: (done, all) => writeMeter.update(Math.round((dataset.header.count * done) / all)),
  });
  return { dataset, decodeProblems, bytes, repaired, decoded: total, hit: false };
}

/**
 * Makes an image folder trainable: lists it (no decoding), refuses it early
 * if its classes cannot work, then reads the decoded form from the cache —
 * keyed by the folder's content and the decode settings — or decodes every
 * image, skipping what cannot be read, and stores the result atomically.
 * The train/validation split is derived from file names and the split seed,
 * so the same folder always gives the same split.
 */
export async function importImageFolder(rootArg: string, options: ImportOptions): Promise<ImportedDataset> {
  const started = performance.now();
  const settings = importSettings(options.settings);
  const root = resolve(rootArg);
  await requireFolder(root);
  configureSharp();
  new ProgressMeter('listing', 0, options.onProgress, options.progressEveryMs).update(0, 0, true);
  const listing = await listImageFolder(root, { followDirectoryLinks: options.followDirectoryLinks === true });
  if (listing === null) throw new InputError(notADatasetMessage(rootArg), 'data');
  options.signal?.throwIfAborted();
  const plan = splitPlanOf(listing, settings);
  // Decoding can only lose images, so a class problem in the listing is
  // final: refuse before decoding anything (docs/RELIABILITY.md row 20, nothing persisted).
  const listed = plannedCounts(
    listing,
    listing.files.map((f) => f.label),
    listing.files.map((f) => (f.inValFolder ? 1 : 0)),
    plan,
  );
  refuseIfUnusable(rootArg, classProblems(listed, plan));

  const decode: DecodeSettings = {
    size: settings.size,
    channels: settings.channels,
    resize: settings.resize,
    maxPixels: options.maxPixels ?? DEFAULT_MAX_PIXELS,
  };
  const key = contentKey(listing, decode);
  const { dataset, decodeProblems, bytes, repaired, decoded, hit } = await cachedOrDecoded(root, rootArg, listing, key, decode, plan, options);

  const { data, split } = toTrainingData(root, dataset, plan);
  const counts = listing.classes.map((c, i) => ({ name: c.name, folder: classFolderOf(c), train: split.trainCounts[i]!, val: split.valCounts[i]! }));
  const classIssues = classProblems(counts, plan);
  refuseIfUnusable(rootArg, classIssues);
  const record: DatasetRecord = {
    key,
    name: data.name,
    root,
    layout: listing.layout,
    settings,
    classes: data.classes,
    trainCounts: split.trainCounts,
    valCounts: split.valCounts,
    split: plan,
    valFingerprint: split.valFingerprint,
    problems: sortProblems([...listing.problems, ...decodeProblems, ...classIssues]),
    skipped: decodeProblems.length,
    cache: { file: cachePath(options.cacheDir, key), hit, bytes, repaired },
    decoded,
    seconds: (performance.now() - started) / 1000,
  };
  return { data, record };
}

/** Says which skipped files left a class empty, so the refusal names what to fix. */
function explainEmptyClasses(problems: DatasetProblem[], listing: FolderListing, decodeProblems: readonly DatasetProblem[]): DatasetProblem[] {
  return problems.map((p) => {
    if (p.kind !== 'empty-class') return p;
    const dir = listing.classes.find((c) => classFolderOf(c) === p.file);
    if (dir === undefined) return p;
    const skipped = decodeProblems.filter((d) => [dir.trainDir, dir.valDir].some((f) => f !== null && d.file.startsWith(`${f}/`)));
    if (skipped.length === 0) return p;
    const names =
      skipped
        .slice(0, 3)
        .map((d) => d.file)
        .join(', ') + (skipped.length > 3 ? ', …' : '');
    return { ...p, message: `class '${dir.name}' has no usable images: all ${skipped.length} of its files were skipped (${names})` };
  });
}
