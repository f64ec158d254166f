import { createHash, randomBytes, type Hash } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import { mkdir, open, readdir, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { DATASET_LAYOUTS, RESIZE_MODES, type DatasetLayout, type DatasetProblem, type ResizeMode } from '../../../shared/dataset.js';
import { pidAlive } from '../../pid-alive.js';

/**
 * One decoded dataset on disk:
 *
 *   "ADJDS001" | u32 LE header length | header JSON (UTF-8)
 *   | pixels (count × size × size × channels, uint8, HWC)
 *   | labels (count × int32 LE) | in-val-folder flags (count × uint8)
 *   | sha256 of every byte before it (32 bytes)
 *
 * Images are stored in the folder's canonical order; the train/validation
 * split is derived from the file names when the file is opened. A file is
 * written to a temporary name, fsynced and renamed, so a kill leaves either
 * no file or a whole one; the trailing hash catches any other damage, and a
 * damaged file is rebuilt, never trusted.
 */
const MAGIC = Buffer.from('ADJDS001', 'latin1');
const PREFIX = MAGIC.length + 4;
const HASH_BYTES = 32;
/** Reads and writes move at most this much at once (files may exceed 2 GB, fs calls may not). */
const CHUNK = 32 * 1024 * 1024;
const CACHE_EXTENSION = '.adjds';
const TEMP_SUFFIX = '.tmp';
/** Temporary files older than this are removed even if their writer's process id is in use again. */
const STALE_TEMP_MS = 24 * 3600 * 1000;

export interface CacheHeader {
  /** Bumped when the meaning of stored pixels changes. */
  version: 1;
  key: string;
  name: string;
  root: string;
  layout: Extract<DatasetLayout, 'class-folders' | 'split-folders'>;
  size: number;
  channels: 1 | 3;
  resize: ResizeMode;
  maxPixels: number;
  classes: Array<{ name: string; folder: string }>;
  /** Names of the train and validation folders when the dataset has them. */
  folderSplit: { train: string; val: string } | null;
  count: number;
  /** Relative path of each stored image, in stored order. */
  files: string[];
  /** Files skipped and other problems found when it was built. */
  problems: DatasetProblem[];
  createdAt: string;
}

export interface CachedDataset {
  header: CacheHeader;
  pixels: Uint8Array;
  labels: Int32Array;
  inValFolder: Uint8Array;
}

export type CacheRead = { ok: true; dataset: CachedDataset; bytes: number } | { ok: false; missing: boolean; reason: string };

export function cachePath(dir: string, key: string): string {
  return join(dir, `${key}${CACHE_EXTENSION}`);
}

function pixelBytes(h: Pick<CacheHeader, 'count' | 'size' | 'channels'>): number {
  return h.count * h.size * h.size * h.channels;
}

function fileBytes(headerBytes: number, h: CacheHeader): number {
  return PREFIX + headerBytes + pixelBytes(h) + h.count * 4 + h.count + HASH_BYTES;
}

/** Checks a parsed header field by field: a header that parses but lies is as bad as one that doesn't. */
function parseHeader(json: string, key: string): CacheHeader | string {
  let h: unknown;
  try {
    h = JSON.parse(json);
  } catch {
    return 'header is not JSON';
  }
  if (typeof h !== 'object' || h === null) return 'header is not an object';
  const o = h as Record<string, unknown>;
  const int = (v: unknown, min: number): boolean => typeof v === 'number' && Number.isInteger(v) && v >= min;
  if (o['version'] !== 1) return `version ${String(o['version'])} is not 1`;
  if (o['key'] !== key) return 'key does not match the file name';
  if (!(DATASET_LAYOUTS as readonly unknown[]).includes(o['layout'])) return 'unknown layout';
  if (!int(o['size'], 1) || (o['channels'] !== 1 && o['channels'] !== 3) || !int(o['count'], 0) || !int(o['maxPixels'], 1)) return 'bad image geometry';
  if (!(RESIZE_MODES as readonly unknown[]).includes(o['resize'])) return 'unknown resize mode';
  if (!Array.isArray(o['classes']) || !Array.isArray(o['files']) || !Array.isArray(o['problems'])) return 'missing lists';
  if (o['files'].length !== o['count']) return 'file list does not match the image count';
  if (typeof o['name'] !== 'string' || typeof o['root'] !== 'string') return 'missing name';
  return h as CacheHeader;
}

async function readFully(fh: FileHandle, into: Uint8Array, position: number, hash: Hash, progress?: (bytes: number) => void): Promise<void> {
  for (let done = 0; done < into.length;) {
    const n = Math.min(CHUNK, into.length - done);
    const { bytesRead } = await fh.read(into, done, n, position + done);
    if (bytesRead === 0) throw new Error('file ended early');
    hash.update(into.subarray(done, done + bytesRead));
    done += bytesRead;
    progress?.(bytesRead);
  }
}

/**
 * Reads a cache file and checks it end to end (hash over every byte). A
 * missing file is `{ok: false, missing: true}`; a damaged one gives the reason.
 */
export async function readCache(dir: string, key: string, onBytes?: (done: number, total: number) => void): Promise<CacheRead> {
  const path = cachePath(dir, key);
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return { ok: false, missing: code === 'ENOENT', reason: `cannot open (${code ?? 'error'})` };
  }
  try {
    const { size } = await fh.stat();
    const hash = createHash('sha256');
    const prefix = new Uint8Array(PREFIX);
    if (size < PREFIX + HASH_BYTES) return { ok: false, missing: false, reason: 'file is too short' };
    await readFully(fh, prefix, 0, hash);
    if (!MAGIC.equals(prefix.subarray(0, MAGIC.length))) return { ok: false, missing: false, reason: 'not an Adjoin dataset cache' };
    const headerBytes = Buffer.from(prefix.buffer, prefix.byteOffset).readUInt32LE(MAGIC.length);
    if (headerBytes > size - PREFIX - HASH_BYTES) return { ok: false, missing: false, reason: 'header length is out of range' };
    const headerRaw = new Uint8Array(headerBytes);
    await readFully(fh, headerRaw, PREFIX, hash);
    const header = parseHeader(Buffer.from(headerRaw).toString('utf8'), key);
    if (typeof header === 'string') return { ok: false, missing: false, reason: header };
    const expected = fileBytes(headerBytes, header);
    if (size !== expected) return { ok: false, missing: false, reason: `file has ${size} bytes, expected ${expected}` };
    let done = 0;
    const report = (n: number): void => {
      done += n;
      onBytes?.(done, size);
    };
    const pixels = new Uint8Array(pixelBytes(header));
    let at = PREFIX + headerBytes;
    await readFully(fh, pixels, at, hash, report);
    at += pixels.length;
    const labelBytes = new Uint8Array(header.count * 4);
    await readFully(fh, labelBytes, at, hash, report);
    at += labelBytes.length;
    const inValFolder = new Uint8Array(header.count);
    await readFully(fh, inValFolder, at, hash, report);
    at += inValFolder.length;
    const stored = new Uint8Array(HASH_BYTES);
    const { bytesRead } = await fh.read(stored, 0, HASH_BYTES, at);
    if (bytesRead !== HASH_BYTES || !Buffer.from(stored).equals(hash.digest())) {
      return { ok: false, missing: false, reason: 'checksum does not match (the file is damaged)' };
    }
    const view = Buffer.from(labelBytes.buffer);
    const labels = new Int32Array(header.count);
    for (let i = 0; i < header.count; i++) labels[i] = view.readInt32LE(i * 4);
    for (const l of labels) if (l < 0 || l >= header.classes.length) return { ok: false, missing: false, reason: `label ${l} out of range` };
    return { ok: true, dataset: { header, pixels, labels, inValFolder }, bytes: size };
  } catch (e) {
    return { ok: false, missing: false, reason: (e as Error).message };
  } finally {
    await fh.close();
  }
}

async function writeAll(fh: FileHandle, data: Uint8Array, hash: Hash, signal?: AbortSignal, progress?: (n: number) => void): Promise<void> {
  for (let done = 0; done < data.length;) {
    signal?.throwIfAborted();
    const piece = data.subarray(done, Math.min(data.length, done + CHUNK));
    hash.update(piece);
    let written = 0;
    while (written < piece.length) {
      const { bytesWritten } = await fh.write(piece, written, piece.length - written);
      written += bytesWritten;
    }
    done += piece.length;
    progress?.(piece.length);
  }
}

/**
 * Writes a dataset atomically: a temporary file in the same folder, fsync,
 * rename over the final name, fsync the folder. Returns the file's size.
 */
export async function writeCache(
  dir: string,
  dataset: CachedDataset,
  options: { signal?: AbortSignal; onBytes?: (done: number, total: number) => void } = {},
): Promise<number> {
  const { header, pixels, labels, inValFolder } = dataset;
  await mkdir(dir, { recursive: true });
  const final = cachePath(dir, header.key);
  const temp = `${final}.${process.pid}.${randomBytes(4).toString('hex')}${TEMP_SUFFIX}`;
  const headerRaw = Buffer.from(JSON.stringify(header), 'utf8');
  const prefix = Buffer.alloc(PREFIX);
  MAGIC.copy(prefix, 0);
  prefix.writeUInt32LE(headerRaw.length, MAGIC.length);
  const labelBytes = Buffer.alloc(header.count * 4);
  for (let i = 0; i < header.count; i++) labelBytes.writeInt32LE(labels[i]!, i * 4);
  const total = fileBytes(headerRaw.length, header);
  let done = 0;
  const report = (n: number): void => {
    done += n;
    options.onBytes?.(done, total);
  };
  const fh = await open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o644);
  let renamed = false;
  try {
    const hash = createHash('sha256');
    await writeAll(fh, prefix, hash, options.signal, report);
    await writeAll(fh, headerRaw, hash, options.signal, report);
    await writeAll(fh, pixels.subarray(0, pixelBytes(header)), hash, options.signal, report);
    await writeAll(fh, labelBytes, hash, options.signal, report);
    await writeAll(fh, inValFolder.subarray(0, header.count), hash, options.signal, report);
    await writeAll(fh, hash.digest(), createHash('sha256'), options.signal, report);
    await fh.sync();
    await fh.close();
    options.signal?.throwIfAborted();
    await rename(temp, final);
    renamed = true;
    await syncFolder(dirname(final));
  } finally {
    if (!renamed) {
      await fh.close().catch(() => undefined);
      await unlink(temp).catch(() => undefined);
    }
  }
  return total;
}

/** Makes a rename durable; folders cannot be opened for sync on Windows, where NTFS journals the rename. */
async function syncFolder(dir: string): Promise<void> {
  if (process.platform === 'win32') return;
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Removes temporary files that a killed import left behind: those whose
 * writer is gone, and any older than a day. Never touches finished files.
 */
export async function removeStaleTemps(dir: string): Promise<number> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return 0;
  }
  let removed = 0;
  for (const name of names) {
    const m = /\.adjds\.(\d+)\.[0-9a-f]+\.tmp$/.exec(name);
    if (m === null) continue;
    const path = join(dir, name);
    let s: Stats;
    try {
      s = await stat(path);
    } catch {
      continue;
    }
    const pid = Number(m[1]);
    if ((pid !== process.pid && !pidAlive(pid)) || Date.now() - s.mtimeMs > STALE_TEMP_MS) {
      await unlink(path).then(
        () => void removed++,
        () => undefined,
      );
    }
  }
  return removed;
}

/** Deletes a damaged cache file so it can be rebuilt (it is keyed by content, so nothing else can be in it). */
export async function discardCache(dir: string, key: string): Promise<void> {
  await unlink(cachePath(dir, key)).catch(() => undefined);
}
