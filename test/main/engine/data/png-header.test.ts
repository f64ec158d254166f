import sharp, { type Sharp } from 'sharp';
import { crc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { readPngHeader } from '../../../../main/engine/data/png-header.js';

/** A PNG from raw pixels with `channels` channels (1–4). */
function png(width: number, height: number, channels: 1 | 2 | 3 | 4, encode: (s: Sharp) => Sharp = (s) => s.png()): Promise<Buffer> {
  const pixels = Buffer.alloc(width * height * channels);
  for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 37) % 251;
  return encode(sharp(pixels, { raw: { width, height, channels } })).toBuffer();
}

/** A chunk inserted right after IHDR (its CRC computed). */
function withChunk(file: Buffer, type: string, data: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([file.subarray(0, 33), length, body, crc, file.subarray(33)]);
}

describe('readPngHeader', () => {
  it('agrees with sharp’s metadata on gray, gray+alpha, RGB, RGBA, palette and 16-bit PNGs', async () => {
    const files = [
      await png(7, 5, 1),
      await png(5, 9, 2),
      await png(12, 3, 3),
      await png(3, 12, 4),
      await png(16, 16, 3, (s) => s.png({ palette: true, colours: 8 })),
      await png(16, 16, 4, (s) => s.png({ palette: true, colours: 8 })),
      await png(6, 6, 3, (s) => s.toColourspace('rgb16').png()),
      await png(6, 6, 1, (s) => s.toColourspace('grey16').png()),
    ];
    for (const file of files) {
      const meta = await sharp(file).metadata();
      const header = readPngHeader(file.subarray(0, 512));
      expect(header, `${meta.channels} channels, ${meta.depth}`).toEqual({
        width: meta.width,
        height: meta.height,
        channels: meta.channels,
        hasAlpha: meta.hasAlpha,
        highBitDepth: meta.depth === 'ushort',
      });
    }
  });

  it('counts a tRNS chunk as alpha, as a decoder does', async () => {
    const rgb = await png(4, 4, 3);
    const transparent = withChunk(rgb, 'tRNS', Buffer.from([0, 1, 0, 2, 0, 3]));
    expect(readPngHeader(transparent)).toMatchObject({ hasAlpha: true, channels: 4 });
    expect(await sharp(transparent).metadata()).toMatchObject({ hasAlpha: true, channels: 4 });
  });

  it('leaves to the decoder what its first bytes do not settle: damage, EXIF, a header cut short, another format', async () => {
    const file = await png(8, 8, 1);
    const damaged = Buffer.from(file);
    damaged[17] = damaged[17]! ^ 0xff;
    expect(readPngHeader(damaged)).toBeNull();
    expect(readPngHeader(withChunk(file, 'eXIf', Buffer.from('MM\0*\0\0\0\x08\0\0', 'latin1')))).toBeNull();
    expect(readPngHeader(file.subarray(0, 40))).toBeNull();
    expect(readPngHeader(withChunk(file, 'iTXt', Buffer.alloc(600)).subarray(0, 512))).toBeNull();
    expect(
      readPngHeader(
        await sharp(Buffer.alloc(48), { raw: { width: 4, height: 4, channels: 3 } })
          .jpeg()
          .toBuffer(),
      ),
    ).toBeNull();
  });
});
