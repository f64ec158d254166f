import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeFailure, decodeImage, DEFAULT_MAX_PIXELS, type DecodeSettings } from '../../../../main/engine/data/decode.js';
import { bombPng, grayPng, jpeg, png, png16, rgbaPng, truncatedJpeg } from '../../../helpers/image-files.js';

const root = mkdtempSync(join(tmpdir(), 'adjoin-decode-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const rgb8: DecodeSettings = { size: 8, channels: 3, resize: 'crop', maxPixels: DEFAULT_MAX_PIXELS };

function at(px: Buffer, size: number, channels: number, y: number, x: number): number[] {
  const i = (y * size + x) * channels;
  return Array.from(px.subarray(i, i + channels));
}

/** Within JPEG's error of a colour. */
function near(actual: number[], expected: number[], tolerance = 12): boolean {
  return actual.every((v, i) => Math.abs(v - expected[i]!) <= tolerance);
}

async function decodeFile(path: string, s: DecodeSettings = rgb8): Promise<Buffer> {
  return decodeImage(readFileSync(path), s);
}

describe('decodeImage', () => {
  it('honours EXIF orientation', async () => {
    // Stored 40×20, red left / blue right, tagged "rotate 90° clockwise to view": viewed, red is on top.
    const path = join(root, 'rotated.jpg');
    await jpeg(path, 40, 20, [255, 0, 0], { orientation: 6, right: [0, 0, 255] });
    const px = await decodeFile(path, { ...rgb8, resize: 'stretch' });
    expect(near(at(px, 8, 3, 0, 0), [255, 0, 0])).toBe(true);
    expect(near(at(px, 8, 3, 7, 0), [0, 0, 255])).toBe(true);
    expect(near(at(px, 8, 3, 0, 7), [255, 0, 0])).toBe(true);
  });

  it('crops the centre square after fitting the shorter side, or stretches', async () => {
    // 48×16: blue | red | blue in thirds. The centre crop sees only red; a stretch keeps all three.
    const path = join(root, 'thirds.png');
    const w = 48;
    const h = 16;
    const b = Buffer.alloc(w * h * 3);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) b.set(x >= 16 && x < 32 ? [255, 0, 0] : [0, 0, 255], (y * w + x) * 3);
    await sharp(b, { raw: { width: w, height: h, channels: 3 } })
      .png()
      .toFile(path);
    const crop = await decodeFile(path);
    for (const x of [0, 7]) expect(near(at(crop, 8, 3, 4, x), [255, 0, 0], 20), `x=${x}`).toBe(true);
    const stretch = await decodeFile(path, { ...rgb8, resize: 'stretch' });
    expect(near(at(stretch, 8, 3, 4, 0), [0, 0, 255], 20)).toBe(true);
    expect(near(at(stretch, 8, 3, 4, 4), [255, 0, 0], 20)).toBe(true);
    expect(near(at(stretch, 8, 3, 4, 7), [0, 0, 255], 20)).toBe(true);
  });

  it('flattens alpha on white', async () => {
    const path = join(root, 'alpha.png');
    await rgbaPng(path, 16, 16, [0, 128, 0]);
    const px = await decodeFile(path, { ...rgb8, resize: 'stretch' });
    expect(at(px, 8, 3, 3, 0)).toEqual([255, 255, 255]);
    expect(at(px, 8, 3, 3, 7)).toEqual([0, 128, 0]);
  });

  it('flattens gray with alpha on white too', async () => {
    // Left column transparent, right column opaque gray 100.
    const ga = Buffer.from([0, 0, 100, 255, 0, 0, 100, 255]);
    const bytes = await sharp(ga, { raw: { width: 2, height: 2, channels: 2 } })
      .toColourspace('b-w')
      .png()
      .toBuffer();
    expect(await sharp(bytes).metadata()).toMatchObject({ channels: 2, hasAlpha: true });
    const px = await decodeImage(bytes, { ...rgb8, size: 2, resize: 'stretch' });
    expect(Array.from(px)).toEqual([255, 255, 255, 100, 100, 100, 255, 255, 255, 100, 100, 100]);
  });

  it('repeats gray into three channels and reduces colour to one', async () => {
    const grayPath = join(root, 'gray.png');
    await grayPng(grayPath, 10, 10, 77);
    expect(at(await decodeFile(grayPath), 8, 3, 2, 2)).toEqual([77, 77, 77]);
    expect(await decodeFile(grayPath, { ...rgb8, channels: 1 })).toEqual(Buffer.alloc(64, 77));
    const colourPath = join(root, 'green.png');
    await png(colourPath, 10, 10, [0, 255, 0]);
    const one = await decodeFile(colourPath, { ...rgb8, channels: 1 });
    expect(one.length).toBe(64);
    // Green is bright: luminance well above the mid-gray of an unweighted mean.
    expect(one[0]).toBeGreaterThan(150);
  });

  it('reads 16-bit PNGs as 8-bit', async () => {
    const path = join(root, 'deep.png');
    await png16(path, 10, 10, [10, 128, 250]);
    expect((await sharp(path).metadata()).depth).toBe('ushort');
    const px = await decodeFile(path);
    expect(px.length).toBe(8 * 8 * 3);
    expect(at(px, 8, 3, 1, 1)).toEqual([10, 128, 250]);
  });

  it('reads palette PNGs, CMYK JPEGs, WebP, TIFF, AVIF and the first frame of a GIF', async () => {
    const red = { width: 12, height: 12, channels: 3 as const, background: { r: 255, g: 0, b: 0 } };
    const inputs: Record<string, Buffer> = {
      palette: await sharp({ create: red }).png({ palette: true }).toBuffer(),
      cmyk: await sharp({ create: red }).toColourspace('cmyk').jpeg().toBuffer(),
      webp: await sharp({ create: red }).webp({ lossless: true }).toBuffer(),
      tiff: await sharp({ create: red }).tiff().toBuffer(),
      avif: await sharp({ create: red }).avif({ lossless: true }).toBuffer(),
      gif: await sharp(
        [
          await sharp({ create: red }).gif().toBuffer(),
          await sharp({ create: { ...red, background: { r: 0, g: 0, b: 255 } } })
            .gif()
            .toBuffer(),
        ],
        { join: { animated: true } },
      )
        .gif()
        .toBuffer(),
    };
    expect((await sharp(inputs['gif']!).metadata()).pages).toBe(2);
    for (const [name, bytes] of Object.entries(inputs)) {
      const [r, g, b] = at(await decodeImage(bytes, rgb8), 8, 3, 4, 4);
      // CMYK round trips through a print profile, so "red" is only roughly red.
      expect(r! > 200 && g! < 40 && b! < 40, `${name}: ${r},${g},${b}`).toBe(true);
    }
  });

  it('rejects truncated JPEGs that metadata() accepts (docs/RELIABILITY.md row 18)', async () => {
    for (const fraction of [0.1, 0.5, 0.9]) {
      const path = join(root, `cut-${fraction}.jpg`);
      await truncatedJpeg(path, fraction);
      // Cut at 10% the header itself is gone; later cuts have a whole header.
      if (fraction > 0.1) await expect(sharp(path).metadata()).resolves.toMatchObject({ width: 32 });
      const error = await decodeFile(path).catch((e: unknown) => e);
      expect(decodeFailure(error, DEFAULT_MAX_PIXELS).kind, `cut at ${fraction}`).toBe('truncated');
    }
  });

  it('rejects a PNG with a bad CRC', async () => {
    const path = join(root, 'crc.png');
    await png(path, 16, 16, [1, 2, 3]);
    const bytes = readFileSync(path);
    const idat = bytes.indexOf('IDAT');
    bytes[idat + 6] = bytes[idat + 6]! ^ 0xff;
    const error = await decodeImage(bytes, rgb8).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect(['truncated', 'unreadable']).toContain(decodeFailure(error, DEFAULT_MAX_PIXELS).kind);
  });

  it('refuses a decompression bomb before allocating its pixels (docs/RELIABILITY.md row 17)', async () => {
    const path = join(root, 'bomb.png');
    bombPng(path);
    const before = process.memoryUsage().rss;
    const error = await decodeFile(path).catch((e: unknown) => e);
    expect(decodeFailure(error, DEFAULT_MAX_PIXELS)).toEqual({ kind: 'too-large', message: 'skipped: larger than the 40-megapixel limit' });
    expect(process.memoryUsage().rss - before).toBeLessThan(200 * 2 ** 20);
  });
});
