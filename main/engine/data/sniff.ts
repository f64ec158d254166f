import type { ImageFormat } from '../../../shared/dataset.js';

/** What the first bytes of a file say it is; the extension is never trusted (docs/RELIABILITY.md row 19). */
export type Sniffed =
  | { kind: 'image'; format: ImageFormat }
  /** An image format the decoder cannot read here. */
  | { kind: 'unsupported'; format: string; why: string }
  | { kind: 'not-image'; what: string }
  | { kind: 'empty' };

/** How many leading bytes `sniff` looks at. */
export const SNIFF_BYTES = 512;

function startsWith(b: Uint8Array, bytes: readonly number[], at = 0): boolean {
  if (b.length < at + bytes.length) return false;
  for (let i = 0; i < bytes.length; i++) if (b[at + i] !== bytes[i]) return false;
  return true;
}

function ascii(b: Uint8Array, at: number, length: number): string {
  return String.fromCharCode(...b.subarray(at, at + length));
}

/** True if the bytes read as text (UTF-8 or ASCII, no control bytes but whitespace). */
function looksLikeText(b: Uint8Array): boolean {
  if (b.length === 0) return false;
  for (const c of b) {
    if (c === 0x09 || c === 0x0a || c === 0x0d || c === 0x0c) continue;
    if (c < 0x20 || c === 0x7f) return false;
  }
  return true;
}

/** ISO-BMFF (`ftyp`) brands: AVIF decodes with sharp's bundled AV1 decoder, HEIC (HEVC) does not. */
function sniffFtyp(b: Uint8Array): Sniffed | null {
  if (b.length < 12 || ascii(b, 4, 4) !== 'ftyp') return null;
  const brands = [ascii(b, 8, 4)];
  const boxSize = (b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!;
  for (let at = 16; at + 4 <= Math.min(boxSize, b.length); at += 4) brands.push(ascii(b, at, 4));
  if (brands.some((x) => x === 'avif' || x === 'avis')) return { kind: 'image', format: 'avif' };
  if (brands.some((x) => ['heic', 'heix', 'hevc', 'heim', 'heis', 'mif1', 'msf1'].includes(x))) {
    return { kind: 'unsupported', format: 'heic', why: 'HEIC images cannot be decoded here (no HEVC decoder); convert them to JPEG' };
  }
  if (brands.some((x) => ['isom', 'mp41', 'mp42', 'qt  ', 'M4V '].includes(x))) return { kind: 'not-image', what: 'a video' };
  return null;
}

/** Identifies a file from its first bytes (at least `SNIFF_BYTES` of them when the file is longer). */
export function sniff(head: Uint8Array): Sniffed {
  const b = head;
  if (b.length === 0) return { kind: 'empty' };
  if (startsWith(b, [0xff, 0xd8, 0xff])) return { kind: 'image', format: 'jpeg' };
  if (startsWith(b, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return { kind: 'image', format: 'png' };
  if (ascii(b, 0, 6) === 'GIF87a' || ascii(b, 0, 6) === 'GIF89a') return { kind: 'image', format: 'gif' };
  if (ascii(b, 0, 4) === 'RIFF' && ascii(b, 8, 4) === 'WEBP') return { kind: 'image', format: 'webp' };
  if (startsWith(b, [0x49, 0x49, 0x2a, 0x00]) || startsWith(b, [0x4d, 0x4d, 0x00, 0x2a])) return { kind: 'image', format: 'tiff' };
  const ftyp = sniffFtyp(b);
  if (ftyp !== null) return ftyp;
  if (ascii(b, 0, 2) === 'BM' && b.length >= 14) {
    return { kind: 'unsupported', format: 'bmp', why: 'BMP images cannot be decoded here; convert them to PNG' };
  }
  if (startsWith(b, [0xff, 0x0a]) || startsWith(b, [0, 0, 0, 0x0c, 0x4a, 0x58, 0x4c, 0x20])) {
    return { kind: 'unsupported', format: 'jxl', why: 'JPEG XL images cannot be decoded here; convert them to PNG or JPEG' };
  }
  if (startsWith(b, [0, 0, 0, 0x0c, 0x6a, 0x50, 0x20, 0x20]) || startsWith(b, [0xff, 0x4f, 0xff, 0x51])) {
    return { kind: 'unsupported', format: 'jp2', why: 'JPEG 2000 images cannot be decoded here; convert them to PNG' };
  }
  if (startsWith(b, [0x00, 0x00, 0x01, 0x00])) return { kind: 'unsupported', format: 'ico', why: 'icons (.ico) are not supported' };
  if (ascii(b, 0, 5) === '%PDF-') return { kind: 'not-image', what: 'a PDF document' };
  if (startsWith(b, [0x50, 0x4b, 0x03, 0x04])) return { kind: 'not-image', what: 'a zip archive' };
  if (startsWith(b, [0x1f, 0x8b])) return { kind: 'not-image', what: 'a gzip archive' };
  // Skip a UTF-8 byte-order mark before deciding what text it is.
  const text = startsWith(b, [0xef, 0xbb, 0xbf]) ? b.subarray(3) : b;
  if (looksLikeText(text)) {
    const s = String.fromCharCode(...text.subarray(0, 256))
      .trimStart()
      .toLowerCase();
    if (s.startsWith('<svg') || (s.startsWith('<?xml') && s.includes('<svg'))) {
      // sharp could rasterise it, but a vector drawing is not a photo and the allowlist excludes it (docs/RELIABILITY.md row 19).
      return { kind: 'unsupported', format: 'svg', why: 'SVG drawings are not imported; export them as PNG' };
    }
    return { kind: 'not-image', what: 'text' };
  }
  return { kind: 'not-image', what: 'not a known image format' };
}

/** The type a file is counted under in a scan's histogram. */
export function sniffedType(s: Sniffed): string {
  switch (s.kind) {
    case 'image':
    case 'unsupported':
      return s.format;
    case 'empty':
      return 'empty';
    case 'not-image':
      return s.what === 'text' ? 'text' : 'other';
  }
}

/**
 * Whether a complete file of this format ends as it should: a JPEG with its
 * end-of-image marker, a PNG with its IEND chunk, a GIF with its trailer.
 * `metadata()` reads headers only and passes truncated files
 * (docs/RELIABILITY.md row 18); this tail check lets a scan flag them without decoding. Some
 * cameras append data after a JPEG's end marker, so a miss is a hint, and
 * the import's full decode decides.
 */
export function endsCleanly(format: ImageFormat, tail: Uint8Array): boolean {
  switch (format) {
    case 'jpeg': {
      for (let i = tail.length - 2; i >= 0; i--) if (tail[i] === 0xff && tail[i + 1] === 0xd9) return true;
      return false;
    }
    case 'png':
      return tail.length >= 8 && ascii(tail, tail.length - 8, 4) === 'IEND';
    case 'gif':
      return tail.length >= 1 && tail[tail.length - 1] === 0x3b;
    default:
      return true;
  }
}
