import { open } from 'node:fs/promises';
import sharp, { type Metadata } from 'sharp';
import { problem, type DatasetProblem, type ImageFormat } from '../../../shared/dataset.js';
import type { LabeledFile } from './folder-layout.js';
import { readPngHeader } from './png-header.js';
import { endsCleanly, sniff, sniffedType, SNIFF_BYTES } from './sniff.js';

/** What a header read learned about one file. */
export interface Inspected {
  format: ImageFormat;
  width: number;
  height: number;
  gray: boolean;
  alpha: boolean;
  highBitDepth: boolean;
  animated: boolean;
}

export type Inspection = { ok: true; info: Inspected; type: string; warning: DatasetProblem | null } | { ok: false; type: string; problem: DatasetProblem };

const TAIL_BYTES = 32;
const HIGH_DEPTHS = new Set(['ushort', 'short', 'uint', 'int', 'float', 'double']);

async function readEnds(path: string, size: number): Promise<{ head: Uint8Array; tail: Uint8Array }> {
  const fh = await open(path, 'r');
  try {
    const head = new Uint8Array(Math.min(size, SNIFF_BYTES));
    const h = await fh.read(head, 0, head.length, 0);
    // A small file's tail is in its head already: one read per file.
    if (size <= head.length) return { head: head.subarray(0, h.bytesRead), tail: head.subarray(Math.max(0, h.bytesRead - TAIL_BYTES), h.bytesRead) };
    const tail = new Uint8Array(Math.min(size, TAIL_BYTES));
    const t = await fh.read(tail, 0, tail.length, size - tail.length);
    return { head: head.subarray(0, h.bytesRead), tail: tail.subarray(0, t.bytesRead) };
  } finally {
    await fh.close();
  }
}

/** The header as sharp reads it, or as the PNG's first bytes say when they settle it. */
async function metadataOf(
  path: string,
  format: string,
  head: Uint8Array,
): Promise<Pick<Metadata, 'width' | 'height' | 'channels' | 'hasAlpha' | 'depth' | 'pages'> & { oriented: { width: number; height: number } }> {
  const png = format === 'png' ? readPngHeader(head) : null;
  if (png !== null) {
    return {
      width: png.width,
      height: png.height,
      channels: png.channels as Metadata['channels'],
      hasAlpha: png.hasAlpha,
      depth: png.highBitDepth ? 'ushort' : 'uchar',
      pages: 1,
      oriented: png,
    };
  }
  // No pixel limit here: the header is read either way, and the size goes into the message.
  const meta = await sharp(path, { limitInputPixels: false }).metadata();
  return { ...meta, oriented: meta.autoOrient };
}

/**
 * Looks at one file without decoding its pixels: magic bytes, the last
 * bytes (a truncation hint), and the header via sharp's `metadata()`.
 */
export async function inspect(f: LabeledFile, maxPixels: number): Promise<Inspection> {
  if (f.size === 0) return { ok: false, type: 'empty', problem: problem(f.rel, 'zero-byte', 'skipped: empty file (0 bytes)') };
  let ends: { head: Uint8Array; tail: Uint8Array };
  try {
    ends = await readEnds(f.abs, f.size);
  } catch (e) {
    return { ok: false, type: 'unreadable', problem: problem(f.rel, 'unreadable', `skipped: cannot read (${(e as NodeJS.ErrnoException).code ?? 'error'})`) };
  }
  const s = sniff(ends.head);
  const type = sniffedType(s);
  switch (s.kind) {
    case 'empty':
      return { ok: false, type, problem: problem(f.rel, 'zero-byte', 'skipped: empty file (0 bytes)') };
    case 'not-image':
      return { ok: false, type, problem: problem(f.rel, 'not-an-image', `skipped: not an image (${s.what})`) };
    case 'unsupported':
      return { ok: false, type, problem: problem(f.rel, 'unsupported-format', `skipped: ${s.why}`) };
    case 'image':
      break;
  }
  let meta: Awaited<ReturnType<typeof metadataOf>>;
  try {
    meta = await metadataOf(f.abs, s.format, ends.head);
  } catch (e) {
    return { ok: false, type, problem: problem(f.rel, 'unreadable', `skipped: damaged header (${(e as Error).message.split('\n')[0]})`) };
  }
  if (meta.width * meta.height > maxPixels) {
    const mp = ((meta.width * meta.height) / 1e6).toFixed(0);
    return {
      ok: false,
      type,
      problem: problem(f.rel, 'too-large', `skipped: ${meta.width}×${meta.height} (${mp} MP) is over the ${(maxPixels / 1e6).toFixed(0)}-megapixel limit`),
    };
  }
  const pages = meta.pages ?? 1;
  const info: Inspected = {
    format: s.format,
    width: meta.oriented.width,
    height: meta.oriented.height,
    gray: meta.channels - (meta.hasAlpha ? 1 : 0) === 1,
    alpha: meta.hasAlpha,
    highBitDepth: HIGH_DEPTHS.has(meta.depth),
    animated: pages > 1 && (s.format === 'gif' || s.format === 'webp'),
  };
  let warning: DatasetProblem | null = null;
  if (!endsCleanly(s.format, ends.tail)) {
    warning = problem(f.rel, 'truncated', `possibly truncated: the ${s.format.toUpperCase()} end marker is missing (import decodes it fully to check)`);
  } else if (info.animated) {
    warning = problem(f.rel, 'animated', `animated (${pages} frames): the first frame is used`);
  }
  return { ok: true, info, type, warning };
}
