import { linkSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { ImageStatsAccumulator } from '../../../../main/engine/data/image-stats.js';
import { importImageFolder } from '../../../../main/engine/data/import-folder.js';
import { scanDataset } from '../../../../main/engine/data/scan.js';
import { tempDirs } from '../../../helpers/store.js';

const temp = tempDirs('adjoin-huge-folder-');

/** The heap's growth at its highest while `work` runs, sampled as it goes. */
async function peakHeapGrowth<T>(work: () => Promise<T>): Promise<{ value: T; bytes: number }> {
  const before = process.memoryUsage().heapUsed;
  let peak = before;
  const sample = setInterval(() => (peak = Math.max(peak, process.memoryUsage().heapUsed)), 20);
  try {
    const value = await work();
    peak = Math.max(peak, process.memoryUsage().heapUsed);
    return { value, bytes: peak - before };
  } finally {
    clearInterval(sample);
  }
}

describe('folders of hundreds of thousands of images', () => {
  it('the statistics of a million images come out without a stack overflow, the median exact', () => {
    const stats = new ImageStatsAccumulator();
    for (let i = 0; i < 1_000_000; i++)
      stats.add({ width: 10 + (i % 7), height: 20 + (i % 3), gray: i % 2 === 0, alpha: false, highBitDepth: i === 5, animated: false });
    expect(stats.result()).toEqual({
      minWidth: 10,
      maxWidth: 16,
      minHeight: 20,
      maxHeight: 22,
      // Short side = the width, 10…16 equally often (up to one): the lower median is 13.
      medianShortSide: 13,
      gray: 500_000,
      colour: 500_000,
      alpha: 0,
      highBitDepth: 1,
      animated: 0,
    });
  });

  it('scans 200,000 images (hard links) in bounded memory: no crash, every file counted, heap growth well under 1 KB a file', async () => {
    const root = temp();
    const png = await sharp({ create: { width: 8, height: 6, channels: 3, background: '#808080' } })
      .png()
      .toBuffer();
    const N = 200_000;
    for (const c of ['cat', 'dog']) mkdirSync(join(root, 'data', c), { recursive: true });
    // A file takes at most 65,000 links on ext4: a fresh source every 50,000.
    for (let i = 0; i < N; i++) {
      const source = join(root, `source-${Math.floor(i / 50_000)}.png`);
      if (i % 50_000 === 0) writeFileSync(source, png);
      linkSync(source, join(root, 'data', i % 2 === 0 ? 'cat' : 'dog', `${String(i).padStart(7, '0')}.png`));
    }
    const { value: scan, bytes } = await peakHeapGrowth(() => scanDataset(join(root, 'data'), { thumbnailsPerClass: 1 }));
    console.log(
      `scan of ${N} files: heap grew by at most ${(bytes / 1e6).toFixed(1)} MB (${Math.round(bytes / N)} bytes a file), ${scan.seconds.toFixed(1)} s`,
    );
    expect(scan.files).toEqual({ seen: N + 2, images: N, skipped: 0 });
    expect(scan.classes.map((c) => c.train + c.val)).toEqual([N / 2, N / 2]);
    expect(scan.images).toMatchObject({ minWidth: 8, maxWidth: 8, minHeight: 6, maxHeight: 6, medianShortSide: 6, colour: N });
    expect(scan.verdict).toEqual({ usable: true });
    expect(bytes / N).toBeLessThan(1024);
  });

  it('imports a folder whose class holds 150,000 files it must skip (hidden ones) beside its images, naming them all', async () => {
    const root = temp();
    const data = join(root, 'data');
    const image = (shade: number) =>
      sharp({ create: { width: 8, height: 8, channels: 3, background: { r: shade, g: shade, b: shade } } })
        .png()
        .toBuffer();
    for (const c of ['cat', 'dog']) {
      mkdirSync(join(data, c), { recursive: true });
      for (let i = 0; i < 4; i++) writeFileSync(join(data, c, `${i}.png`), await image(40 * i + (c === 'cat' ? 0 : 20)));
    }
    const M = 150_000;
    for (let i = 0; i < M; i++) {
      const source = join(root, `empty-${Math.floor(i / 50_000)}`);
      if (i % 50_000 === 0) writeFileSync(source, '');
      linkSync(source, join(data, 'cat', `.${String(i).padStart(6, '0')}.tmp`));
    }
    const { data: imported, record } = await importImageFolder(data, { cacheDir: join(root, 'cache'), settings: { size: 8, channels: 1, valSplit: 0.25 } });
    expect(imported.train.count + imported.val.count).toBe(8);
    expect(record.problems.filter((p) => p.kind === 'hidden-file')).toHaveLength(M);
    expect(record.decoded).toBe(8);
  });
});
