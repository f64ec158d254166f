import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { crc32, deflateSync } from 'node:zlib';
import sharp, { type Sharp } from 'sharp';

/** Builders for the image files the data tests put in temporary folders (all small, all real). */

export type Rgb = [number, number, number];

function ensureDir(path: string): void {
  mkdirSync(dirname(path), { recursive: true });
}

/** Raw RGB pixels: the left part one colour, the right part another (shows flips and rotations). */
export function halves(width: number, height: number, left: Rgb, right: Rgb): Buffer {
  const b = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) b.set(x < width / 2 ? left : right, (y * width + x) * 3);
  }
  return b;
}

function rawRgb(pixels: Buffer, width: number, height: number): Sharp {
  return sharp(pixels, { raw: { width, height, channels: 3 } });
}

export async function jpeg(path: string, width: number, height: number, colour: Rgb, options: { orientation?: number; right?: Rgb } = {}): Promise<Buffer> {
  ensureDir(path);
  let img = rawRgb(halves(width, height, colour, options.right ?? colour), width, height);
  if (options.orientation !== undefined) img = img.withMetadata({ orientation: options.orientation });
  const bytes = await img.jpeg({ quality: 95 }).toBuffer();
  writeFileSync(path, bytes);
  return bytes;
}

export async function png(path: string, width: number, height: number, colour: Rgb, options: { right?: Rgb } = {}): Promise<void> {
  ensureDir(path);
  await rawRgb(halves(width, height, colour, options.right ?? colour), width, height)
    .png()
    .toFile(path);
}

/** RGBA: the left half fully transparent (so it flattens to white), the right half opaque `colour`. */
export async function rgbaPng(path: string, width: number, height: number, colour: Rgb): Promise<void> {
  ensureDir(path);
  const b = Buffer.alloc(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) b.set(x < width / 2 ? [0, 0, 0, 0] : [...colour, 255], (y * width + x) * 4);
  }
  await sharp(b, { raw: { width, height, channels: 4 } })
    .png()
    .toFile(path);
}

/** One-channel PNG of a single gray level. */
export async function grayPng(path: string, width: number, height: number, level: number): Promise<void> {
  ensureDir(path);
  await sharp(Buffer.alloc(width * height, level), { raw: { width, height, channels: 1 } })
    .toColourspace('b-w')
    .png()
    .toFile(path);
}

/** 16 bits per sample, each 8-bit level `v` stored as `v * 257` (so it reads back as exactly `v`). */
export async function png16(path: string, width: number, height: number, colour: Rgb): Promise<void> {
  ensureDir(path);
  const samples = new Uint16Array(width * height * 3);
  for (let i = 0; i < samples.length; i++) samples[i] = colour[i % 3]! * 257;
  await sharp(samples, { raw: { width, height, channels: 3 } })
    .toColourspace('rgb16')
    .png()
    .toFile(path);
}

export async function truncatedJpeg(path: string, fraction: number): Promise<void> {
  ensureDir(path);
  const noise = await sharp({ create: { width: 32, height: 32, channels: 3, background: '#000', noise: { type: 'gaussian', mean: 128, sigma: 40 } } })
    .jpeg()
    .toBuffer();
  writeFileSync(path, noise.subarray(0, Math.floor(noise.length * fraction)));
}

function pngChunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

let bomb: Buffer | null = null;

/**
 * A valid 20000×20000 gray PNG (400 MP) of ~0.4 MB: a decompression bomb.
 * Built by hand, since asking sharp to encode it takes seconds.
 */
export function bombPng(path: string): void {
  ensureDir(path);
  if (bomb === null) {
    const side = 20000;
    const header = Buffer.alloc(13);
    header.writeUInt32BE(side, 0);
    header.writeUInt32BE(side, 4);
    header[8] = 8; // bits per sample
    header[9] = 0; // grayscale
    const rows = deflateSync(Buffer.alloc((side + 1) * side), { level: 1 });
    bomb = Buffer.concat([
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
      pngChunk('IHDR', header),
      pngChunk('IDAT', rows),
      pngChunk('IEND', Buffer.alloc(0)),
    ]);
  }
  writeFileSync(path, bomb);
}

export function textFile(path: string, text: string): void {
  ensureDir(path);
  writeFileSync(path, text);
}
