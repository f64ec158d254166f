import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ImportProgress } from '../../../../shared/dataset.js';
import { InputError } from '../../../../shared/errors.js';
import { importImageFolder, type ImportedDataset } from '../../../../main/engine/data/import-folder.js';
import { openTrainingData } from '../../../../main/engine/data/open.js';
import { bombPng, grayPng, jpeg, png, png16, rgbaPng, textFile, truncatedJpeg } from '../../../helpers/image-files.js';

const root = mkdtempSync(join(tmpdir(), 'adjoin-import-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

let cacheCount = 0;
/** A fresh, empty cache folder. */
function newCache(): string {
  return join(root, 'caches', String(cacheCount++));
}

function cacheFiles(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir).sort() : [];
}

/** Every file under a folder with its size and content hash: what "the dataset was not touched" means. */
function fingerprint(dir: string): string[] {
  const out: string[] = [];
  const visit = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isSymbolicLink()) out.push(`${relative(dir, p)} -> link`);
      else if (e.isDirectory()) visit(p);
      else out.push(`${relative(dir, p)} ${statSync(p).size} ${createHash('sha1').update(readFileSync(p)).digest('hex')}`);
    }
  };
  visit(dir);
  return out.sort();
}

/** Two usable classes of 10 images each, with every kind of unreadable file mixed into the first. */
async function buildMixed(dir: string): Promise<void> {
  for (let i = 0; i < 4; i++) await jpeg(join(dir, 'cats', `photo ${i}.jpg`), 20, 16, [200, 20 * i, 20]);
  await png(join(dir, 'cats', 'plain.png'), 12, 12, [20, 200, 20]);
  await rgbaPng(join(dir, 'cats', 'alpha.png'), 12, 12, [0, 0, 255]);
  await grayPng(join(dir, 'cats', 'gray.png'), 12, 12, 90);
  await png16(join(dir, 'cats', 'deep.png'), 12, 12, [10, 20, 30]);
  await jpeg(join(dir, 'cats', 'rotated.jpg'), 20, 10, [255, 0, 0], { orientation: 6, right: [0, 0, 255] });
  await jpeg(join(dir, 'cats', 'nested', 'kitten.jpg'), 12, 12, [100, 100, 100]);
  writeFileSync(join(dir, 'cats', 'empty.jpg'), '');
  await truncatedJpeg(join(dir, 'cats', 'cut.jpg'), 0.5);
  textFile(join(dir, 'cats', 'notes.jpg'), 'not a picture');
  textFile(join(dir, 'cats', '.DS_Store'), 'x');
  bombPng(join(dir, 'cats', 'huge.png'));
  symlinkSync(join(dir, 'cats'), join(dir, 'cats', 'loop'));
  for (let i = 0; i < 10; i++) await jpeg(join(dir, 'chiens à poil', `photo ${i} é.jpg`), 16, 16, [20, 20, 100 + 15 * i]);
}

describe('importing an image folder', () => {
  const mixed = join(root, 'mixed');
  const cache = newCache();
  let first: ImportedDataset;
  const progress: ImportProgress[] = [];
  let before: string[];
  beforeAll(async () => {
    await buildMixed(mixed);
    before = fingerprint(mixed);
    first = await importImageFolder(mixed, { cacheDir: cache, settings: { size: 8, channels: 3 }, onProgress: (p) => progress.push(p) });
  });

  it('skips each unreadable file, naming it, and keeps the rest', () => {
    const { data, record } = first;
    expect(data.classes).toEqual(['cats', 'chiens à poil']);
    expect(data.train.count + data.val.count).toBe(20);
    const kinds = Object.fromEntries(record.problems.map((p) => [p.file, p.kind]));
    expect(kinds).toMatchObject({
      'cats/empty.jpg': 'zero-byte',
      'cats/cut.jpg': 'truncated',
      'cats/notes.jpg': 'not-an-image',
      'cats/huge.png': 'too-large',
      'cats/loop': 'symlink-loop',
      'cats/.DS_Store': 'hidden-file',
    });
    expect(record.problems.every((p) => p.severity !== 'error')).toBe(true);
  });

  it('produces the requested geometry with labels that match the folders', () => {
    const { data, record } = first;
    expect(data).toMatchObject({ height: 8, width: 8, channels: 3 });
    expect(data.train.images.length).toBe(data.train.count * 8 * 8 * 3);
    expect(data.val.images.length).toBe(data.val.count * 8 * 8 * 3);
    expect(record.trainCounts).toEqual([8, 8]);
    expect(record.valCounts).toEqual([2, 2]);
    const counts = [0, 0];
    for (const l of [...data.train.labels, ...data.val.labels]) counts[l]!++;
    expect(counts).toEqual([10, 10]);
    // "chiens" images are blue-dominant, "cats" red-dominant or gray: labels travel with their pixels.
    for (let i = 0; i < data.train.count; i++) {
      const [r, , b] = data.train.images.subarray(i * 192, i * 192 + 3);
      if (data.train.labels[i] === 1) expect(b!).toBeGreaterThanOrEqual(r!);
    }
  });

  it('reports progress with files done, a rate and an ETA, ending at the total', () => {
    const decoding = progress.filter((p) => p.phase === 'decoding');
    expect(decoding.length).toBeGreaterThanOrEqual(2);
    const last = decoding.at(-1)!;
    expect(last).toMatchObject({ done: 24, total: 24, skipped: 4 });
    expect(last.filesPerSecond).toBeGreaterThan(0);
    expect(last.etaSeconds).toBe(0);
    expect(progress.some((p) => p.phase === 'writing-cache')).toBe(true);
  });

  it('writes one cache file and nothing into the dataset', () => {
    expect(cacheFiles(cache)).toEqual([`${first.record.key}.adjds`]);
    expect(first.record.cache).toMatchObject({ hit: false, repaired: null });
    expect(first.record.decoded).toBe(24);
    expect(fingerprint(mixed)).toEqual(before);
  });

  it('reads the cache on a second import: nothing decoded, same data, same problems', async () => {
    const again = await importImageFolder(mixed, { cacheDir: cache, settings: { size: 8, channels: 3 } });
    expect(again.record.cache.hit).toBe(true);
    expect(again.record.decoded).toBe(0);
    expect(again.record.key).toBe(first.record.key);
    expect(again.data.train.images).toEqual(first.data.train.images);
    expect(again.data.val.labels).toEqual(first.data.val.labels);
    expect(again.record.problems).toEqual(first.record.problems);
    expect(again.record.valFingerprint).toBe(first.record.valFingerprint);
  });

  it('decodes again when one file is touched, and for other settings', async () => {
    const dir = join(root, 'touch');
    for (const c of ['a', 'b']) for (let i = 0; i < 5; i++) await png(join(dir, c, `${i}.png`), 8, 8, [i * 50, 0, 0]);
    const c2 = newCache();
    const a = await importImageFolder(dir, { cacheDir: c2, settings: { size: 8 } });
    expect((await importImageFolder(dir, { cacheDir: c2, settings: { size: 8 } })).record.decoded).toBe(0);
    const later = new Date(Date.now() + 5000);
    utimesSync(join(dir, 'b', '3.png'), later, later);
    const b = await importImageFolder(dir, { cacheDir: c2, settings: { size: 8 } });
    expect(b.record.key).not.toBe(a.record.key);
    expect(b.record.decoded).toBe(10);
    const c = await importImageFolder(dir, { cacheDir: c2, settings: { size: 6 } });
    expect(c.record.decoded).toBe(10);
    // A different split reuses the decoded images.
    const d = await importImageFolder(dir, { cacheDir: c2, settings: { size: 6, valSplit: 0.4 } });
    expect(d.record.decoded).toBe(0);
    expect(d.record.valCounts).toEqual([2, 2]);
  });

  it('detects a damaged cache file and rebuilds it, never trusting it', async () => {
    const file = first.record.cache.file;
    const bytes = readFileSync(file);
    bytes[Math.floor(bytes.length / 2)] = bytes[Math.floor(bytes.length / 2)]! ^ 0x55;
    writeFileSync(file, bytes);
    const rebuilt = await importImageFolder(mixed, { cacheDir: cache, settings: { size: 8, channels: 3 } });
    expect(rebuilt.record.cache.hit).toBe(false);
    expect(rebuilt.record.cache.repaired).toMatch(/checksum/);
    expect(rebuilt.data.train.images).toEqual(first.data.train.images);
    writeFileSync(file, readFileSync(file).subarray(0, 1000));
    const again = await importImageFolder(mixed, { cacheDir: cache, settings: { size: 8, channels: 3 } });
    expect(again.record.cache.repaired).not.toBeNull();
    expect((await importImageFolder(mixed, { cacheDir: cache, settings: { size: 8, channels: 3 } })).record.cache.hit).toBe(true);
  });

  it('streams large files from disk instead of reading them whole', async () => {
    const dir = join(root, 'large');
    for (const c of ['a', 'b']) for (let i = 0; i < 3; i++) await png(join(dir, c, `${i}.png`), 8, 8, [9, 9, 9]);
    // A 20×20 red JPEG followed by 17 MB of padding: over the read-whole limit, still a valid image.
    const small = await jpeg(join(dir, 'a', 'big.jpg'), 20, 20, [255, 0, 0]);
    writeFileSync(join(dir, 'a', 'big.jpg'), Buffer.concat([small, Buffer.alloc(17 * 2 ** 20)]));
    writeFileSync(join(dir, 'b', 'big-text.jpg'), Buffer.alloc(17 * 2 ** 20, 'x'));
    const { data, record } = await importImageFolder(dir, { cacheDir: newCache(), settings: { size: 4 } });
    expect(data.train.count + data.val.count).toBe(7);
    expect(record.skipped).toBe(1);
    expect(record.problems).toContainEqual(expect.objectContaining({ file: 'b/big-text.jpg', kind: 'not-an-image' }));
    const all = [...data.train.images, ...data.val.images];
    // Only the big JPEG is red.
    let red = 0;
    for (let i = 0; i < all.length; i += 3) if (all[i]! > 200 && all[i + 1]! < 60) red++;
    expect(red).toBe(16);
  });

  it('converts to one channel when asked', async () => {
    const gray = await importImageFolder(mixed, { cacheDir: cache, settings: { size: 6, channels: 1 } });
    expect(gray.data.channels).toBe(1);
    expect(gray.data.train.images.length).toBe(gray.data.train.count * 36);
  });
});

describe('refusing a dataset', () => {
  async function twoGood(dir: string, classes: string[]): Promise<void> {
    for (const c of classes) for (let i = 0; i < 3; i++) await png(join(dir, c, `${i}.png`), 8, 8, [9, 9, 9]);
  }

  it.each([
    ['an empty class folder', async (d: string) => (await twoGood(d, ['a', 'b']), mkdirSync(join(d, 'c'))), /class 'c' has no usable images/],
    ['a single class', async (d: string) => twoGood(d, ['only']), /found only one class \('only'\)/],
    [
      'a class whose every file is unreadable',
      async (d: string) => {
        await twoGood(d, ['a', 'b']);
        textFile(join(d, 'c', 'fake.jpg'), 'text');
        await truncatedJpeg(join(d, 'c', 'cut.jpg'), 0.6);
      },
      /class 'c' has no usable images: all 2 of its files were skipped \(c\/cut\.jpg, c\/fake\.jpg\)/,
    ],
    ['no class folders', async (d: string) => png(join(d, 'loose.png'), 8, 8, [1, 1, 1]), /is not a dataset Adjoin can read: it has no class folders/],
    [
      'classes too small to validate',
      async (d: string) => {
        await png(join(d, 'a', '1.png'), 8, 8, [1, 1, 1]);
        await png(join(d, 'b', '1.png'), 8, 8, [1, 1, 1]);
      },
      /no images left for validation/,
    ],
  ])('refuses %s with a clear reason, persisting nothing', async (name, build, reason) => {
    const dir = join(root, `refuse-${name.replace(/\W+/g, '-')}`);
    mkdirSync(dir, { recursive: true });
    await build(dir);
    const cache = newCache();
    const error = await importImageFolder(dir, { cacheDir: cache }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InputError);
    expect((error as Error).message).toMatch(reason);
    expect(cacheFiles(cache)).toEqual([]);
  });

  it('leaves earlier datasets in the cache untouched', async () => {
    const cache = newCache();
    const good = join(root, 'good');
    await twoGood(good, ['a', 'b']);
    const ok = await importImageFolder(good, { cacheDir: cache });
    const stored = readFileSync(ok.record.cache.file);
    const bad = join(root, 'bad');
    await twoGood(bad, ['x']);
    await expect(importImageFolder(bad, { cacheDir: cache })).rejects.toThrow(InputError);
    expect(cacheFiles(cache)).toEqual([`${ok.record.key}.adjds`]);
    expect(readFileSync(ok.record.cache.file).equals(stored)).toBe(true);
  });

  it('refuses a dataset too big to hold in memory before decoding it', async () => {
    const dir = join(root, 'big');
    await twoGood(dir, ['a', 'b']);
    await expect(importImageFolder(dir, { cacheDir: newCache(), settings: { size: 64 }, maxBytes: 10_000 })).rejects.toThrow(
      /need .* GB, more than the .* GB limit; choose a smaller size/,
    );
  });
});

describe('cancelling', () => {
  it('stops when aborted, writes no cache, and a later import succeeds', async () => {
    const dir = join(root, 'cancel');
    for (const c of ['a', 'b']) for (let i = 0; i < 40; i++) await jpeg(join(dir, c, `${i}.jpg`), 32, 32, [i, 0, 0]);
    const cache = newCache();
    const controller = new AbortController();
    let seen = 0;
    const error = await importImageFolder(dir, {
      cacheDir: cache,
      concurrency: 1,
      signal: controller.signal,
      progressEveryMs: 0,
      onProgress: (p) => {
        if (p.phase !== 'decoding') return;
        seen = p.done;
        if (p.done === 5) controller.abort();
      },
    }).catch((e: unknown) => e);
    expect((error as Error).name).toBe('AbortError');
    expect(seen).toBe(5);
    expect(cacheFiles(cache)).toEqual([]);
    const after = await importImageFolder(dir, { cacheDir: cache });
    expect(after.data.train.count + after.data.val.count).toBe(80);
  });
});

describe('splits', () => {
  const dir = join(root, 'split-source');
  beforeAll(async () => {
    for (const [c, n] of [
      ['a', 20],
      ['b', 10],
      ['c', 5],
    ] as const) {
      for (let i = 0; i < n; i++) await png(join(dir, c, `${i}.png`), 4, 4, [i, i, i]);
    }
  });

  it('holds out a stratified share of each class', async () => {
    const { record } = await importImageFolder(dir, { cacheDir: newCache(), settings: { size: 4, valSplit: 0.2 } });
    expect(record.split).toEqual({ kind: 'stratified', fraction: 0.2, seed: 0 });
    expect(record.valCounts).toEqual([4, 2, 1]);
    expect(record.trainCounts).toEqual([16, 8, 4]);
  });

  it('gives the same split for the same seed, a different one for another seed', async () => {
    const cache = newCache();
    const a = await importImageFolder(dir, { cacheDir: cache, settings: { size: 4 } });
    const b = await importImageFolder(dir, { cacheDir: newCache(), settings: { size: 4 } });
    const c = await importImageFolder(dir, { cacheDir: cache, settings: { size: 4, splitSeed: 7 } });
    expect(b.record.valFingerprint).toBe(a.record.valFingerprint);
    expect(b.data.val.images).toEqual(a.data.val.images);
    expect(c.record.valFingerprint).not.toBe(a.record.valFingerprint);
    expect(c.record.valCounts).toEqual(a.record.valCounts);
  });

  it('keeps the other files in place when one file is added', async () => {
    const cache = newCache();
    const a = await importImageFolder(dir, { cacheDir: cache, settings: { size: 4, valSplit: 0.5 } });
    const grown = join(root, 'split-grown');
    for (const c of ['a', 'b', 'c'])
      for (const f of readdirSync(join(dir, c))) {
        mkdirSync(join(grown, c), { recursive: true });
        writeFileSync(join(grown, c, f), readFileSync(join(dir, c, f)));
      }
    await png(join(grown, 'a', 'new.png'), 4, 4, [1, 2, 3]);
    const b = await importImageFolder(grown, { cacheDir: cache, settings: { size: 4, valSplit: 0.5 } });
    // 'a' grows from 20 to 21 images: at most one of its old images changes side.
    expect(b.record.valCounts[0]! - a.record.valCounts[0]!).toBeLessThanOrEqual(1);
    expect(b.record.valCounts.slice(1)).toEqual(a.record.valCounts.slice(1));
  });

  it('uses val/ as given and never moves images across', async () => {
    const split = join(root, 'split-folders');
    for (const c of ['x', 'y']) {
      for (let i = 0; i < 6; i++) await png(join(split, 'train', c, `${i}.png`), 4, 4, [10, 10, 10]);
      for (let i = 0; i < 2; i++) await png(join(split, 'val', c, `${i}.png`), 4, 4, [250, 250, 250]);
    }
    const { data, record } = await importImageFolder(split, { cacheDir: newCache(), settings: { size: 4, valSplit: 0.5 } });
    expect(record.split).toEqual({ kind: 'folders', train: 'train', val: 'val' });
    expect(record.trainCounts).toEqual([6, 6]);
    expect(record.valCounts).toEqual([2, 2]);
    expect(data.val.images.every((v) => v > 200)).toBe(true);
    expect(data.train.images.every((v) => v < 50)).toBe(true);
  });

  it('mixes the classes in each split, so --limit-train takes some of each', async () => {
    const { data } = await openTrainingData(dir, { cacheDir: newCache(), settings: { size: 4 }, limitTrain: 10 });
    expect(data.train.count).toBe(10);
    expect(new Set(data.train.labels).size).toBeGreaterThan(1);
  });
});
