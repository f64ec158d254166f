import { crc32 } from 'node:zlib';

/** What a PNG's leading chunks say, read without a decoder. */
export interface PngHeader {
  width: number;
  height: number;
  /** Colour channels plus alpha, as a decoder would give them (a palette decodes to RGB). */
  channels: number;
  hasAlpha: boolean;
  /** 16 bits per sample. */
  highBitDepth: boolean;
}

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

function u32(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

function chunkType(b: Uint8Array, at: number): string {
  return String.fromCharCode(b[at]!, b[at + 1]!, b[at + 2]!, b[at + 3]!);
}

/**
 * Reads a PNG's header from its first bytes: the IHDR chunk (its CRC
 * checked) and the chunks up to the first IDAT, which say whether a tRNS
 * chunk adds alpha. Null whenever the bytes do not settle it — damaged,
 * cut short before IDAT, or carrying EXIF (which may rotate the image) —
 * and the caller asks the decoder instead. Scanning folders of hundreds of
 * thousands of PNGs thus opens each file once.
 */
export function readPngHeader(head: Uint8Array): PngHeader | null {
  if (head.length < 33 || SIGNATURE.some((v, i) => head[i] !== v)) return null;
  if (u32(head, 8) !== 13 || chunkType(head, 12) !== 'IHDR') return null;
  if (crc32(head.subarray(12, 29)) !== u32(head, 29)) return null;
  const width = u32(head, 16);
  const height = u32(head, 20);
  const depth = head[24]!;
  const colour = head[25]!;
  if (width === 0 || height === 0 || width > 0x7fffffff || height > 0x7fffffff) return null;
  const base: Record<number, { channels: number; alpha: boolean; depths: number[] }> = {
    0: { channels: 1, alpha: false, depths: [1, 2, 4, 8, 16] },
    2: { channels: 3, alpha: false, depths: [8, 16] },
    3: { channels: 3, alpha: false, depths: [1, 2, 4, 8] },
    4: { channels: 2, alpha: true, depths: [8, 16] },
    6: { channels: 4, alpha: true, depths: [8, 16] },
  };
  const kind = base[colour];
  if (kind === undefined || !kind.depths.includes(depth)) return null;
  let transparency = false;
  for (let at = 33; ;) {
    if (at + 8 > head.length) return null;
    const length = u32(head, at);
    const type = chunkType(head, at + 4);
    if (type === 'IDAT') break;
    if (type === 'eXIf' || type === 'IEND') return null;
    if (type === 'tRNS') transparency = true;
    at += 12 + length;
  }
  const hasAlpha = kind.alpha || transparency;
  return { width, height, channels: kind.channels + (hasAlpha && !kind.alpha ? 1 : 0), hasAlpha, highBitDepth: depth === 16 };
}
