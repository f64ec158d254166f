import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { importImageFolder } from '../../main/engine/data/import-folder.js';
import { forEachBounded } from '../../main/engine/data/pool.js';
import { Rng } from '../../main/engine/rng.js';
import { round } from './measure.js';

const FILES = 5000;
const CLASSES = 10;
const SIDE = 256;
const SIZE = 32;

/** Shared noise, read at a random offset per image: per-pixel random draws would make generating 5,000 images the slow part. */
function noiseTable(rng: Rng): Uint8Array {
  return Uint8Array.from({ length: 2 * SIDE * SIDE * 3 }, () => rng.int(25));
}

/** A photo-like 256×256 image: a random two-colour gradient, a rectangle, and noise, so JPEGs differ and do not compress to nothing. */
function picture(rng: Rng, noise: Uint8Array): Buffer {
  const px = Buffer.alloc(SIDE * SIDE * 3);
  const a = [rng.int(256), rng.int(256), rng.int(256)];
  const b = [rng.int(256), rng.int(256), rng.int(256)];
  const box = [rng.int(SIDE), rng.int(SIDE), 20 + rng.int(100), 20 + rng.int(100)] as const;
  const ink = [rng.int(256), rng.int(256), rng.int(256)];
  const offset = rng.int(SIDE * SIDE * 3);
  for (let y = 0; y < SIDE; y++) {
    for (let x = 0; x < SIDE; x++) {
      const t = (x + y) / (2 * SIDE);
      const inBox = x >= box[0] && x < box[0] + box[2] && y >= box[1] && y < box[1] + box[3];
      for (let c = 0; c < 3; c++) {
        const i = (y * SIDE + x) * 3 + c;
        const v = (inBox ? ink[c]! : a[c]! * (1 - t) + b[c]! * t) + noise[offset + i]! - 12;
        px[i] = Math.max(0, Math.min(255, v));
      }
    }
  }
  return px;
}

/**
 * Imports 5,000 generated 256×256 JPEGs at 32×32, cold (every file decoded)
 * and then from the cache, in one run. Decoding dominates the cold import;
 * the cached one reads one file and checks its hash.
 */
export async function importBench(): Promise<Record<string, unknown>> {
  const root = mkdtempSync(join(tmpdir(), 'adjoin-bench-import-'));
  try {
    const data = join(root, 'photos');
    const rng = new Rng(2024);
    const noise = noiseTable(rng);
    for (let c = 0; c < CLASSES; c++) mkdirSync(join(data, `class-${c}`), { recursive: true });
    // Jobs start in index order and draw their pixels before awaiting, so the files are the same every run.
    await forEachBounded(
      Array.from({ length: FILES }, (_, i) => i),
      4,
      async (i) => {
        await sharp(picture(rng, noise), { raw: { width: SIDE, height: SIDE, channels: 3 } })
          .jpeg({ quality: 90 })
          .toFile(join(data, `class-${i % CLASSES}`, `${String(i).padStart(5, '0')}.jpg`));
      },
    );
    const cacheDir = join(root, 'cache');
    const settings = { size: SIZE, channels: 3 as const };

    const coldStart = performance.now();
    const cold = await importImageFolder(data, { cacheDir, settings });
    const coldSeconds = (performance.now() - coldStart) / 1000;
    const warmStart = performance.now();
    const warm = await importImageFolder(data, { cacheDir, settings });
    const warmSeconds = (performance.now() - warmStart) / 1000;
    if (cold.record.decoded !== FILES || warm.record.decoded !== 0) {
      throw new Error(`expected ${FILES} decoded cold and 0 cached, got ${cold.record.decoded} and ${warm.record.decoded}`);
    }
    return {
      benchmark: 'import',
      images_per_s_cold: round(FILES / coldSeconds, 1),
      images_per_s_cached: round(FILES / warmSeconds, 1),
      files: FILES,
      cold_s: round(coldSeconds, 2),
      cached_s: round(warmSeconds, 3),
      cache_bytes: warm.record.cache.bytes,
      cores: availableParallelism(),
      input: `${SIDE}×${SIDE} JPEG, quality 90, ${CLASSES} classes`,
      output: `${SIZE}×${SIZE}×3 uint8`,
    };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
