import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatasetProblem, DatasetScan } from '../../../../shared/dataset.js';
import { InputError } from '../../../../shared/errors.js';
import { scanDataset } from '../../../../main/engine/data/scan.js';
import { bombPng, grayPng, jpeg, png, png16, rgbaPng, textFile, truncatedJpeg } from '../../../helpers/image-files.js';

const root = mkdtempSync(join(tmpdir(), 'adjoin-scan-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Every case of the issue in one folder: two good classes with every kind of bad file mixed in. */
async function buildZoo(dir: string): Promise<void> {
  await jpeg(join(dir, 'cats', 'photo.jpg'), 40, 30, [200, 30, 30]);
  await png(join(dir, 'cats', 'plain.png'), 30, 30, [30, 200, 30]);
  await rgbaPng(join(dir, 'cats', 'alpha.png'), 20, 20, [0, 0, 255]);
  await grayPng(join(dir, 'cats', 'gray.png'), 24, 24, 90);
  await png16(join(dir, 'cats', 'deep.png'), 16, 16, [10, 20, 30]);
  await jpeg(join(dir, 'cats', 'rotated.jpg'), 40, 20, [255, 0, 0], { orientation: 6, right: [0, 0, 255] });
  await jpeg(join(dir, 'cats', 'nested', 'deeper', 'kitten.jpg'), 32, 32, [100, 100, 100]);
  writeFileSync(join(dir, 'cats', 'empty.jpg'), '');
  await truncatedJpeg(join(dir, 'cats', 'cut.jpg'), 0.5);
  textFile(join(dir, 'cats', 'notes.jpg'), 'this is not a picture\n');
  textFile(join(dir, 'cats', '.DS_Store'), '\0\0\0\x01Bud1');
  bombPng(join(dir, 'cats', 'huge.png'));
  symlinkSync(join(dir, 'cats'), join(dir, 'cats', 'loop'));
  for (let i = 0; i < 4; i++) await jpeg(join(dir, 'chiens à poil', `photo ${i} é.jpg`), 24, 24, [i * 40, 90, 200]);
  textFile(join(dir, 'README.txt'), 'a dataset');
  textFile(join(dir, '.DS_Store'), 'x');
}

function byFile(scan: DatasetScan): Map<string, DatasetProblem[]> {
  const m = new Map<string, DatasetProblem[]>();
  for (const p of scan.problems) m.set(p.file, [...(m.get(p.file) ?? []), p]);
  return m;
}

describe('scanning an image folder', () => {
  const zoo = join(root, 'zoo');
  let scan: DatasetScan;
  beforeAll(async () => {
    await buildZoo(zoo);
    scan = await scanDataset(zoo);
  });

  it('finds the classes, in name order, with the usable images counted', () => {
    expect(scan.layout).toBe('class-folders');
    expect(scan.classes.map((c) => c.name)).toEqual(['cats', 'chiens à poil']);
    const cats = scan.classes[0]!;
    // photo, plain, alpha, gray, deep, rotated, nested kitten; the truncated JPEG passes its header
    expect(cats.train + cats.val).toBe(8);
    expect(cats.skipped).toBe(3); // empty, notes (text), huge
    expect(scan.classes[1]!.train + scan.classes[1]!.val).toBe(4);
    expect(scan.split).toEqual({ kind: 'stratified', fraction: 0.2, seed: 0 });
  });

  it('reports each bad file by name, with the reason', () => {
    const p = byFile(scan);
    const kinds = (f: string): string[] => (p.get(f) ?? []).map((x) => x.kind);
    expect(kinds('cats/empty.jpg')).toEqual(['zero-byte']);
    expect(kinds('cats/notes.jpg')).toEqual(['not-an-image']);
    expect(kinds('cats/cut.jpg')).toEqual(['truncated']);
    expect(kinds('cats/huge.png')).toEqual(['too-large']);
    expect(p.get('cats/huge.png')![0]!.message).toMatch(/20000×20000 \(400 MP\) is over the 40-megapixel limit/);
    expect(kinds('cats/loop')).toEqual(['symlink-loop']);
    expect(kinds('cats/.DS_Store')).toEqual(['hidden-file']);
    expect(kinds('.DS_Store')).toEqual(['hidden-file']);
    expect(kinds('README.txt')).toEqual(['outside-class']);
    expect(scan.problemCounts['zero-byte']).toBe(1);
  });

  it('sniffs file types from the bytes, not the extension', () => {
    expect(scan.fileTypes).toMatchObject({ jpeg: 3 + 4 + 1, png: 5, text: 1, empty: 1 });
  });

  it('summarises sizes and colours, honouring EXIF orientation', () => {
    const s = scan.images!;
    expect(s.maxWidth).toBe(40);
    // rotated.jpg is stored 40×20 but displayed 20×40
    expect(s.maxHeight).toBe(40);
    expect(s.gray).toBe(1);
    expect(s.alpha).toBe(1);
    expect(s.highBitDepth).toBe(1);
    expect(scan.suggested).toEqual({ size: 24, channels: 3 });
    expect(scan.totalBytes).toBeGreaterThan(400_000); // the bomb alone
  });

  it('makes small PNG thumbnails from readable training images', async () => {
    const t = scan.classes[0]!.thumbnails;
    expect(t).toHaveLength(3);
    for (const url of t) {
      expect(url).toMatch(/^data:image\/png;base64,/);
      const meta = await sharp(Buffer.from(url.split(',')[1]!, 'base64')).metadata();
      expect(Math.max(meta.width, meta.height)).toBeLessThanOrEqual(64);
    }
  });

  it('is usable: bad files are skipped, not fatal', () => {
    expect(scan.verdict).toEqual({ usable: true });
    expect(scan.problems.every((p) => p.severity !== 'error')).toBe(true);
  });
});

describe('scan verdicts', () => {
  it('blocks a dataset with an empty class, naming it', async () => {
    const dir = join(root, 'empty-class');
    await jpeg(join(dir, 'a', '1.jpg'), 8, 8, [1, 2, 3]);
    await jpeg(join(dir, 'a', '2.jpg'), 8, 8, [1, 2, 3]);
    await jpeg(join(dir, 'b', '1.jpg'), 8, 8, [1, 2, 3]);
    await jpeg(join(dir, 'b', '2.jpg'), 8, 8, [1, 2, 3]);
    mkdirSync(join(dir, 'c'));
    const scan = await scanDataset(dir);
    expect(scan.verdict).toEqual({ usable: false, reason: "class 'c' has no usable images" });
    expect(scan.problems[0]).toMatchObject({ file: 'c', kind: 'empty-class', severity: 'error' });
  });

  it('blocks a single-class folder', async () => {
    const dir = join(root, 'one-class');
    await jpeg(join(dir, 'only', '1.jpg'), 8, 8, [1, 2, 3]);
    await jpeg(join(dir, 'only', '2.jpg'), 8, 8, [1, 2, 3]);
    const scan = await scanDataset(dir);
    expect(scan.verdict.usable).toBe(false);
    expect(scan.problemCounts['single-class']).toBe(1);
    expect(scan.verdict.usable === false && scan.verdict.reason).toMatch(/only one class \('only'\)/);
  });

  it('warns about a one-image class and tiny classes', async () => {
    const dir = join(root, 'tiny');
    await jpeg(join(dir, 'lonely', '1.jpg'), 8, 8, [1, 2, 3]);
    for (let i = 0; i < 3; i++) await jpeg(join(dir, 'few', `${i}.jpg`), 8, 8, [1, 2, 3]);
    const scan = await scanDataset(dir);
    expect(scan.verdict).toEqual({ usable: true });
    expect(scan.problems.map((p) => [p.file, p.kind])).toEqual([
      ['few', 'tiny-class'],
      ['lonely', 'single-image-class'],
    ]);
    expect(scan.classes.find((c) => c.name === 'lonely')).toMatchObject({ train: 1, val: 0 });
    expect(scan.classes.find((c) => c.name === 'few')).toMatchObject({ train: 2, val: 1 });
  });

  it('says what to do with a folder that has no class folders', async () => {
    const dir = join(root, 'flat');
    await jpeg(join(dir, '1.jpg'), 8, 8, [1, 2, 3]);
    const scan = await scanDataset(dir);
    expect(scan.layout).toBeNull();
    expect(scan.verdict.usable === false && scan.verdict.reason).toMatch(/no class folders .*e\.g\. cat\/001\.jpg/);
  });

  it('throws an input error for a folder that does not exist', async () => {
    await expect(scanDataset(join(root, 'missing'))).rejects.toThrow(InputError);
  });
});

describe('layouts', () => {
  it('reads train/ and val/ with class subfolders, counting per split', async () => {
    const dir = join(root, 'split');
    for (const [split, n] of [
      ['train', 3],
      ['val', 2],
    ] as const) {
      for (const c of ['x', 'y']) for (let i = 0; i < n; i++) await png(join(dir, split, c, `${i}.png`), 8, 8, [9, 9, 9]);
    }
    await png(join(dir, 'val', 'z', '0.png'), 8, 8, [9, 9, 9]);
    const scan = await scanDataset(dir);
    expect(scan.layout).toBe('split-folders');
    expect(scan.split).toEqual({ kind: 'folders', train: 'train', val: 'val' });
    expect(scan.classes.map((c) => [c.name, c.folder, c.train, c.val])).toEqual([
      ['x', 'train/x', 3, 2],
      ['y', 'train/y', 3, 2],
      ['z', 'val/z', 0, 1],
    ]);
    expect(scan.verdict).toEqual({ usable: false, reason: "class 'z' has validation images but no training images" });
  });

  it('matches class names in NFC, whatever normalisation the folders were written in', async () => {
    const dir = join(root, 'unicode');
    const decomposed = 'cafe\u0301'; // as macOS writes it
    const composed = 'caf\u00e9';
    for (let i = 0; i < 3; i++) {
      await png(join(dir, 'train', decomposed, `${i}.png`), 8, 8, [9, 9, 9]);
      await png(join(dir, 'train', 'thé', `${i}.png`), 8, 8, [9, 9, 9]);
    }
    await png(join(dir, 'val', composed, '0.png'), 8, 8, [9, 9, 9]);
    await png(join(dir, 'val', 'thé', '0.png'), 8, 8, [9, 9, 9]);
    const scan = await scanDataset(dir);
    expect(scan.classes.map((c) => [c.name, c.train, c.val])).toEqual([
      [composed, 3, 1],
      ['thé', 3, 1],
    ]);
    // Both spellings side by side would be one class: the second is reported, not silently merged or dropped.
    await png(join(dir, 'train', composed, '0.png'), 8, 8, [9, 9, 9]);
    const twice = await scanDataset(dir);
    expect(twice.problems).toContainEqual(expect.objectContaining({ file: `train/${composed}`, kind: 'ignored-folder' }));
  });

  it('uses test/ when there is no val/', async () => {
    const dir = join(root, 'split-test');
    for (const split of ['train', 'test']) for (const c of ['x', 'y']) await png(join(dir, split, c, '0.png'), 8, 8, [9, 9, 9]);
    const scan = await scanDataset(dir);
    expect(scan.split).toEqual({ kind: 'folders', train: 'train', val: 'test' });
  });

  it('does not follow links to folders by default, and never loops when asked to', async () => {
    const dir = join(root, 'links');
    for (const c of ['a', 'b']) for (let i = 0; i < 2; i++) await png(join(dir, c, `${i}.png`), 8, 8, [9, 9, 9]);
    await png(join(root, 'outside', 'o.png'), 8, 8, [9, 9, 9]);
    symlinkSync(join(root, 'outside'), join(dir, 'a', 'elsewhere'));
    symlinkSync(dir, join(dir, 'b', 'up'));
    symlinkSync(join(dir, 'a', 'nothing-here'), join(dir, 'a', 'dangling'));
    const plain = await scanDataset(dir);
    expect(plain.classes.map((c) => c.train + c.val)).toEqual([2, 2]);
    expect(plain.problems.map((p) => [p.file, p.kind])).toEqual(
      expect.arrayContaining([
        ['a/elsewhere', 'symlink-skipped'],
        ['b/up', 'symlink-loop'],
        ['a/dangling', 'broken-link'],
      ]),
    );
    const followed = await scanDataset(dir, { followDirectoryLinks: true });
    expect(followed.classes.map((c) => c.train + c.val)).toEqual([3, 2]);
  });

  it('counts BMP, SVG-as-PNG and other unsupported files as skipped', async () => {
    const dir = join(root, 'formats');
    for (const c of ['a', 'b']) for (let i = 0; i < 2; i++) await png(join(dir, c, `${i}.png`), 8, 8, [9, 9, 9]);
    const bmp = Buffer.alloc(58);
    bmp.write('BM', 0, 'latin1');
    writeFileSync(join(dir, 'a', 'old.bmp'), bmp);
    textFile(join(dir, 'a', 'drawing.png'), '<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"/>');
    writeFileSync(join(dir, 'a', 'doc.jpg'), '%PDF-1.4\n%\xe2\xe3\xcf\xd3\n');
    const scan = await scanDataset(dir);
    const kinds = Object.fromEntries(scan.problems.map((p) => [p.file, [p.kind, p.message]]));
    expect(kinds['a/old.bmp']).toEqual(['unsupported-format', expect.stringMatching(/BMP/)]);
    expect(kinds['a/drawing.png']).toEqual(['unsupported-format', expect.stringMatching(/SVG/)]);
    expect(kinds['a/doc.jpg']).toEqual(['not-an-image', expect.stringMatching(/PDF/)]);
    expect(scan.classes[0]!.skipped).toBe(3);
  });
});
