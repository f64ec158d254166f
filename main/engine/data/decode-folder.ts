import { open, readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { basename } from 'node:path';
import { problem, type DatasetProblem, type ImportProgress, type ProblemKind } from '../../../shared/dataset.js';
import { InputError } from '../../../shared/errors.js';
import { compactRecords } from './arrange.js';
import type { CachedDataset, CacheHeader } from './cache-file.js';
import { decodeFailure, decodeImage, MAX_FILE_BYTES, type DecodeSettings } from './decode.js';
import { classFolderOf, type FolderListing, type LabeledFile } from './folder-layout.js';
import { forEachBounded } from './pool.js';
import { ProgressMeter } from './progress-meter.js';
import { sniff, SNIFF_BYTES } from './sniff.js';

type Failure = { kind: ProblemKind; message: string };

/** Files up to this size are read into memory to be decoded; larger ones are streamed from disk. */
const READ_WHOLE_BYTES = 16 * 1024 * 1024;

async function readHead(path: string): Promise<Uint8Array> {
  const fh = await open(path, 'r');
  try {
    const head = new Uint8Array(SNIFF_BYTES);
    const { bytesRead } = await fh.read(head, 0, SNIFF_BYTES, 0);
    return head.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/** Reads, sniffs and decodes one file into `out`; returns why it was skipped, or null. */
async function decodeFile(f: LabeledFile, decode: DecodeSettings, out: Uint8Array, offset: number): Promise<Failure | null> {
  if (f.size === 0) return { kind: 'zero-byte', message: 'skipped: empty file (0 bytes)' };
  if (f.size > MAX_FILE_BYTES) return { kind: 'too-large', message: `skipped: ${(f.size / 2 ** 20).toFixed(0)} MB is too large for an image` };
  // Small files are read whole and decoded from memory (one read, sniffed
  // and decoded from the same bytes); large ones are sniffed from their
  // head and streamed by sharp, so a few big files in flight stay cheap.
  let input: Buffer | string;
  let head: Uint8Array;
  try {
    if (f.size <= READ_WHOLE_BYTES) {
      input = await readFile(f.abs);
      head = input.subarray(0, SNIFF_BYTES);
    } else {
      input = f.abs;
      head = await readHead(f.abs);
    }
  } catch (e) {
    return { kind: 'unreadable', message: `skipped: cannot read (${(e as NodeJS.ErrnoException).code ?? 'error'})` };
  }
  const sniffed = sniff(head);
  switch (sniffed.kind) {
    case 'empty':
      return { kind: 'zero-byte', message: 'skipped: empty file (0 bytes)' };
    case 'not-image':
      return { kind: 'not-an-image', message: `skipped: not an image (${sniffed.what})` };
    case 'unsupported':
      return { kind: 'unsupported-format', message: `skipped: ${sniffed.why}` };
    case 'image':
      break;
  }
  try {
    out.set(await decodeImage(input, decode), offset);
    return null;
  } catch (e) {
    return decodeFailure(e, decode.maxPixels);
  }
}

export interface DecodeFolderOptions {
  /** Refuse when the decoded pixels would need more bytes than this (default 4 GiB, a typed array's limit). */
  maxBytes?: number;
  /** Images decoded at once (default: twice the cores, at least 4). */
  concurrency?: number;
  onProgress?: (p: ImportProgress) => void;
  /** Least time between two progress reports of a phase (default 100 ms); the last one always comes. */
  progressEveryMs?: number;
  signal?: AbortSignal;
}

const DEFAULT_MAX_BYTES = 2 ** 32;

/**
 * Decodes every listed file into one uint8 buffer, in listing order,
 * skipping (and naming) what cannot be decoded. The result is what the
 * cache stores under `key`; `shownRoot` is how errors name the folder.
 */
export async function decodeFolder(
  root: string,
  shownRoot: string,
  listing: FolderListing,
  key: string,
  decode: DecodeSettings,
  options: DecodeFolderOptions = {},
): Promise<CachedDataset> {
  const { files } = listing;
  const pixelsPerImage = decode.size * decode.size * decode.channels;
  const needed = files.length * pixelsPerImage;
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  if (needed > maxBytes) {
    throw new InputError(
      `${shownRoot} cannot be used: ${files.length} images at ${decode.size}×${decode.size}×${decode.channels} need ` +
        `${(needed / 2 ** 30).toFixed(1)} GB, more than the ${(maxBytes / 2 ** 30).toFixed(1)} GB limit; choose a smaller size`,
      'size',
    );
  }
  const pixels = new Uint8Array(needed);
  const keep = new Uint8Array(files.length);
  const failures: Array<DatasetProblem | undefined> = new Array(files.length);
  const meter = new ProgressMeter('decoding', files.length, options.onProgress, options.progressEveryMs);
  let done = 0;
  let skipped = 0;
  meter.update(0, 0, true);
  // sharp decodes on libuv's thread pool, off the caller's thread; a few
  // images in flight keep every core busy while memory stays bounded by
  // the in-flight files (docs/RELIABILITY.md row 17 caps each one's pixels).
  const concurrency = options.concurrency ?? Math.max(4, 2 * availableParallelism());
  await forEachBounded(
    files,
    concurrency,
    async (f, i) => {
      const failure = await decodeFile(f, decode, pixels, i * pixelsPerImage);
      if (failure === null) keep[i] = 1;
      else {
        failures[i] = problem(f.rel, failure.kind, failure.message);
        skipped++;
      }
      meter.update(++done, skipped);
    },
    options.signal,
  );
  meter.update(done, skipped, true);
  const count = compactRecords(pixels, pixelsPerImage, keep);
  const labels = new Int32Array(count);
  const inValFolder = new Uint8Array(count);
  const kept: string[] = [];
  for (let i = 0, j = 0; i < files.length; i++) {
    if (keep[i] !== 1) continue;
    labels[j] = files[i]!.label;
    inValFolder[j] = files[i]!.inValFolder ? 1 : 0;
    kept.push(files[i]!.rel);
    j++;
  }
  const decodeProblems = failures.filter((p): p is DatasetProblem => p !== undefined);
  const header: CacheHeader = {
    version: 1,
    key,
    name: basename(root),
    root,
    layout: listing.layout,
    size: decode.size,
    channels: decode.channels,
    resize: decode.resize,
    maxPixels: decode.maxPixels,
    classes: listing.classes.map((c) => ({ name: c.name, folder: classFolderOf(c) })),
    folderSplit: listing.folderSplit === null ? null : { train: listing.folderSplit.train, val: listing.folderSplit.val },
    count,
    files: kept,
    problems: decodeProblems,
    createdAt: new Date().toISOString(),
  };
  return { header, pixels: pixels.subarray(0, count * pixelsPerImage), labels, inValFolder };
}
