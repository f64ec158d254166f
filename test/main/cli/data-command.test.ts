import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatasetRecord, DatasetScan } from '../../../shared/dataset.js';
import { runCli } from '../../helpers/cli.js';
import { jpeg, png, textFile, truncatedJpeg } from '../../helpers/image-files.js';

const root = mkdtempSync(join(tmpdir(), 'adjoin-data-cli-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Keeps the CLI's history and cache inside the test folder. */
const env = { ADJOIN_HOME: join(root, 'home'), ADJOIN_CACHE_DIR: join(root, 'cache') };
const SAMPLE = fileURLToPath(new URL('../../../samples/fashion-mnist', import.meta.url));

const good = join(root, 'good');
const broken = join(root, 'broken');
beforeAll(async () => {
  for (let i = 0; i < 6; i++) {
    await jpeg(join(good, 'red things', `${i}.jpg`), 20, 14, [220, 20 + i, 20]);
    await png(join(good, 'blue things', `${i}.png`), 14, 20, [20, 20 + i, 220]);
  }
  await truncatedJpeg(join(good, 'red things', 'cut.jpg'), 0.5);
  textFile(join(good, 'red things', 'notes.jpg'), 'not an image');
  for (const c of ['a', 'b']) for (let i = 0; i < 3; i++) await png(join(broken, c, `${i}.png`), 8, 8, [1, 2, 3]);
  mkdirSync(join(broken, 'empty'));
});

describe('adjoin data scan', () => {
  it('prints the typed summary as JSON, naming every bad file', () => {
    const r = runCli(['data', 'scan', good, '--json'], { env });
    expect(r.status).toBe(0);
    const scan = JSON.parse(r.stdout) as DatasetScan;
    expect(scan.classes.map((c) => c.name)).toEqual(['blue things', 'red things']);
    expect(scan.problems.map((p) => [p.file, p.kind])).toEqual(
      expect.arrayContaining([
        ['red things/cut.jpg', 'truncated'],
        ['red things/notes.jpg', 'not-an-image'],
      ]),
    );
    expect(scan.classes[0]!.thumbnails).toHaveLength(3);
    expect(scan.verdict).toEqual({ usable: true });
  });

  it('prints a readable summary with a class chart and the problems', () => {
    const r = runCli(['data', 'scan', good], { env });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/good: class-folders — 2 classes, 13 images/);
    // 6 photos and the truncated one (its header is whole; only an import finds the cut), notes.jpg skipped.
    expect(r.stdout).toMatch(/red things +6 +1 +1 +█+/);
    expect(r.stdout).toMatch(/warning red things\/notes\.jpg: skipped: not an image \(text\)/);
    expect(r.stdout).toMatch(/usable: yes/);
  });

  it('exits 2 with one error line for a dataset that cannot be used, still printing the summary', () => {
    const r = runCli(['data', 'scan', broken], { env });
    expect(r.status).toBe(2);
    expect(r.stdout).toMatch(/usable: no — class 'empty' has no usable images/);
    expect(r.stderr.trim().split('\n')).toEqual([`adjoin: error: ${broken} cannot be used: class 'empty' has no usable images`]);
  });

  it.each([
    ['a folder that does not exist', ['data', 'scan', join(root, 'nope')], /data folder .* does not exist/],
    ['no folder', ['data', 'scan'], /needs exactly one folder/],
    ['no subcommand', ['data'], /needs a subcommand: scan or import/],
    ['a bad --val-split', ['data', 'import', good, '--val-split', '1.5'], /val-split must be a fraction between 0 and 1/],
    ['a bad --channels', ['data', 'import', good, '--channels', '4'], /channels must be 1 or 3, got 4/],
    ['a bad --resize', ['data', 'import', good, '--resize', 'squash'], /--resize must be one of crop, stretch/],
  ])('refuses %s with one line and exit code 2', (_name, args, message) => {
    const r = runCli(args as string[], { env });
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(message as RegExp);
  });

  it('scans the sample dataset in the repo: 10 classes of 100 gray 28×28 images, usable', () => {
    const r = runCli(['data', 'scan', SAMPLE, '--json', '--thumbnails', '1'], { env });
    expect(r.status).toBe(0);
    const scan = JSON.parse(r.stdout) as DatasetScan;
    expect(scan.classes).toHaveLength(10);
    expect(scan.classes.every((c) => c.train + c.val === 100 && c.skipped === 0)).toBe(true);
    expect(scan.suggested).toEqual({ size: 28, channels: 1 });
    expect(scan.problems.map((p) => [p.file, p.kind])).toEqual([['LICENSE', 'outside-class']]);
  });
});

describe('adjoin data import', () => {
  it('imports once, then reads the cache', () => {
    const args = ['data', 'import', good, '--size', '12', '--json'];
    const first = runCli(args, { env });
    expect(first.status).toBe(0);
    const lines = first.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string });
    expect(lines.some((l) => l.type === 'progress')).toBe(true);
    const a = (lines.at(-1) as unknown as { record: DatasetRecord }).record;
    expect(a).toMatchObject({ decoded: 14, skipped: 2, cache: { hit: false } });
    expect(existsSync(a.cache.file)).toBe(true);
    expect(a.cache.file.startsWith(join(root, 'cache', 'datasets'))).toBe(true);
    const second = runCli(args, { env });
    const b = (JSON.parse(second.stdout.trim().split('\n').at(-1)!) as { record: DatasetRecord }).record;
    expect(b).toMatchObject({ decoded: 0, cache: { hit: true }, key: a.key });
  });

  it('prints a one-line summary and the skipped files for people', () => {
    const r = runCli(['data', 'import', good, '--size', '10'], { env });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/good: 2 classes, 10 train \/ 2 val images at 10×10×3, 2 files skipped/);
    expect(r.stdout).toMatch(/warning: red things\/cut\.jpg: skipped: truncated or damaged/);
  });

  it('refuses an unusable folder and caches nothing', () => {
    const cacheHome = join(root, 'cache-refused');
    const r = runCli(['data', 'import', broken], { env: { ...env, ADJOIN_CACHE_DIR: cacheHome } });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/class 'empty' has no usable images/);
    expect(existsSync(join(cacheHome, 'datasets')) ? readdirSync(join(cacheHome, 'datasets')) : []).toEqual([]);
  });
});

describe('adjoin train with image folders', () => {
  const common = ['--arch', 'resnet18', '--stem', 'cifar', '--width', '0.125', '--mode', 'an', '--alpha', '2', '--epochs', '1', '--batch', '8', '--json'];

  it('imports the folder at --size and --channels, holding out --val-split', () => {
    const r = runCli(['train', '--data', good, '--size', '12', '--channels', '1', '--val-split', '0.35', ...common, '--out', join(root, 'run-folder')], {
      env,
    });
    expect(r.status, r.stderr).toBe(0);
    const started = JSON.parse(r.stdout.split('\n')[0]!) as {
      type: string;
      config: { model: { inputSize: number; channels: number; classes: number } };
      data: { trainCount: number; valCount: number };
    };
    expect(started.type).toBe('started');
    expect(started.config.model).toMatchObject({ inputSize: 12, channels: 1, classes: 2 });
    expect(started.data).toMatchObject({ trainCount: 8, valCount: 4 });
    expect(r.stderr).toMatch(/good: 2 classes, 8 train \/ 4 val images at 12×12×1/);
  });

  it('resamples other sources to --size and --channels', () => {
    const r = runCli(
      ['train', '--data', 'synthetic:classes=2,size=8,train=16,val=8', '--size', '10', '--channels', '3', ...common, '--out', join(root, 'run-synthetic')],
      { env },
    );
    expect(r.status, r.stderr).toBe(0);
    const started = JSON.parse(r.stdout.split('\n')[0]!) as { config: { model: { inputSize: number; channels: number } } };
    expect(started.config.model).toMatchObject({ inputSize: 10, channels: 3 });
  });

  it('refuses a bad --size before reading anything', () => {
    const out = join(root, 'run-bad');
    const r = runCli(['train', '--data', good, '--size', '2', ...common, '--out', out], { env });
    expect(r.status).toBe(2);
    expect(r.stderr.trim()).toBe('adjoin: error: size must be an integer from 4 to 1024, got 2');
    expect(existsSync(out)).toBe(false);
  });

  it('refuses an unusable folder with the reason', () => {
    const r = runCli(['train', '--data', broken, ...common, '--out', join(root, 'run-broken')], { env });
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual([`adjoin: error: ${broken} cannot be used: class 'empty' has no usable images`]);
  });
});
