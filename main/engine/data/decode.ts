import sharp from 'sharp';
import type { ImportSettings, ProblemKind } from '../../../shared/dataset.js';

/**
 * Images above this many pixels are refused before their pixels are
 * decoded. sharp's own default (268 MP) lets a ~1 MB PNG of 20000×20000
 * allocate over a gigabyte (docs/RELIABILITY.md row 17); 40 MP still admits every
 * common camera below medium format.
 */
export const DEFAULT_MAX_PIXELS = 40_000_000;

/** Files above this many bytes are not read at all (no image we accept needs more). */
export const MAX_FILE_BYTES = 512 * 1024 * 1024;

let configured = false;

/**
 * Process-wide sharp settings for bulk decoding. libvips' operation cache
 * only helps when the same image is processed twice; an import decodes each
 * file once, so the cache costs memory and ~10% of the time. sharp's thread
 * pool stays at its default: parallelism comes from several images in flight.
 * (A process that starts engine workers must load sharp on its main thread
 * first, docs/RELIABILITY.md row 23; importing this module does.)
 */
export function configureSharp(): void {
  if (configured) return;
  sharp.cache(false);
  configured = true;
}

export type DecodeSettings = Pick<ImportSettings, 'size' | 'channels' | 'resize'> & { maxPixels: number };

/**
 * Decodes one image fully and returns size × size × channels uint8 pixels.
 * `failOn: 'warning'` makes truncated and corrupt data an error: `metadata()`
 * alone passes them (docs/RELIABILITY.md row 18). EXIF orientation is applied,
 * alpha is flattened on white, 16-bit samples become 8-bit, gray is
 * repeated to RGB or colour reduced to luminance, and only the first frame
 * of an animation is used (docs/RELIABILITY.md row 22). `input` is the file's bytes
 * or, for large files, its path (sharp then streams it).
 */
export async function decodeImage(input: Buffer | string, s: DecodeSettings): Promise<Buffer> {
  const { data, info } = await sharp(input, { failOn: 'warning', limitInputPixels: s.maxPixels, sequentialRead: true, autoOrient: true })
    .flatten({ background: '#ffffff' })
    .resize(s.size, s.size, { fit: s.resize === 'crop' ? 'cover' : 'fill', position: 'centre' })
    .toColourspace(s.channels === 1 ? 'b-w' : 'srgb')
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== s.channels || info.width !== s.size || info.height !== s.size) {
    throw new Error(`decoder produced ${info.width}×${info.height}×${info.channels}, expected ${s.size}×${s.size}×${s.channels}`);
  }
  return data;
}

/** Turns a decoder error into a problem kind and a message a person can act on. */
export function decodeFailure(e: unknown, maxPixels: number): { kind: ProblemKind; message: string } {
  const m = e instanceof Error ? e.message : String(e);
  if (/exceeds pixel limit/i.test(m)) {
    return { kind: 'too-large', message: `skipped: larger than the ${(maxPixels / 1e6).toFixed(0)}-megapixel limit` };
  }
  if (/premature end|truncat|unexpected end|end of (file|stream|input)|not enough (image )?data|corrupt|incomplete/i.test(m)) {
    return { kind: 'truncated', message: `skipped: truncated or damaged (${firstLine(m)})` };
  }
  // With several images in flight libvips may report only that a warning
  // (a premature end, bad data) tripped failOn, not which one.
  if (/treated as error due to failOn/i.test(m)) {
    return { kind: 'truncated', message: 'skipped: truncated or damaged (the decoder found invalid image data)' };
  }
  if (/unsupported image format/i.test(m)) return { kind: 'not-an-image', message: 'skipped: not an image the decoder recognises' };
  return { kind: 'unreadable', message: `skipped: cannot be decoded (${firstLine(m)})` };
}

function firstLine(s: string): string {
  return s.split('\n')[0]!.trim();
}
