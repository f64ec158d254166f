import { createHash } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

const MAGIC = Buffer.from('ADJOINT1', 'ascii');

export interface StoredTensor {
  shape: number[];
  data: Float32Array;
}

interface Header {
  meta: unknown;
  tensors: Array<{ name: string; shape: number[]; offset: number; length: number }>;
  sha256: string;
}

/**
 * Writes meta + named float32 tensors to one file, atomically: a temporary
 * file is written and fsynced, the previous file is kept as `<path>.prev`,
 * then the new one is renamed into place. A crash at any point leaves a
 * loadable file (`readTensorFile` falls back to `.prev`).
 */
export function writeTensorFile(path: string, meta: unknown, tensors: ReadonlyMap<string, StoredTensor>): void {
  const entries: Header['tensors'] = [];
  let offset = 0;
  for (const [name, t] of tensors) {
    entries.push({ name, shape: t.shape, offset, length: t.data.length });
    offset += t.data.length;
  }
  const data = Buffer.alloc(offset * 4);
  for (const [i, t] of [...tensors.values()].entries()) {
    const e = entries[i]!;
    Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).copy(data, e.offset * 4);
  }
  const header: Header = { meta, tensors: entries, sha256: createHash('sha256').update(data).digest('hex') };
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const pad = (4 - ((MAGIC.length + 4 + json.length) % 4)) % 4;
  const len = Buffer.alloc(4);
  len.writeUInt32LE(json.length + pad);
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w');
  try {
    for (const part of [MAGIC, len, json, Buffer.alloc(pad, 0x20), data]) writeSync(fd, part);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  if (existsSync(path)) renameSync(path, `${path}.prev`);
  renameSync(tmp, path);
  try {
    const dfd = openSync(dirname(path), 'r');
    fsyncSync(dfd);
    closeSync(dfd);
  } catch {
    // Some filesystems cannot fsync a directory; the rename is still atomic.
  }
}

export class CorruptFileError extends Error {
  override readonly name = 'CorruptFileError';
}

function parse(path: string): { meta: unknown; tensors: Map<string, StoredTensor> } {
  const buf = readFileSync(path);
  if (buf.length < 12 || !buf.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw new CorruptFileError(`${path} is not an Adjoin tensor file`);
  }
  const len = buf.readUInt32LE(MAGIC.length);
  const start = MAGIC.length + 4;
  if (start + len > buf.length) throw new CorruptFileError(`${path} is truncated`);
  let header: Header;
  try {
    header = JSON.parse(buf.subarray(start, start + len).toString('utf8')) as Header;
  } catch {
    throw new CorruptFileError(`${path} has an unreadable header`);
  }
  const data = buf.subarray(start + len);
  if (createHash('sha256').update(data).digest('hex') !== header.sha256) {
    throw new CorruptFileError(`${path} is corrupted (checksum mismatch)`);
  }
  const floats = new Float32Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
  const tensors = new Map<string, StoredTensor>();
  for (const e of header.tensors) {
    tensors.set(e.name, { shape: e.shape, data: floats.subarray(e.offset, e.offset + e.length) });
  }
  return { meta: header.meta, tensors };
}

/** Reads a tensor file; if it is missing or damaged, its `.prev` copy. */
export function readTensorFile(path: string): { meta: unknown; tensors: Map<string, StoredTensor>; path: string } {
  try {
    return { ...parse(path), path };
  } catch (e) {
    const prev = `${path}.prev`;
    if (existsSync(prev)) return { ...parse(prev), path: prev };
    throw e;
  }
}
