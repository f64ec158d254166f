import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { InputError } from '../../../../shared/errors.js';
import { isIdxDir, loadIdx } from '../../../../main/engine/data/idx.js';
import { loadTrainingData } from '../../../../main/engine/data/load.js';

const root = mkdtempSync(join(tmpdir(), 'adjoin-idx-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function images(count: number, rows: number, cols: number, fill: (i: number) => number): Buffer {
  const b = Buffer.alloc(16 + count * rows * cols);
  b.writeUInt32BE(0x803, 0);
  b.writeUInt32BE(count, 4);
  b.writeUInt32BE(rows, 8);
  b.writeUInt32BE(cols, 12);
  for (let i = 0; i < count * rows * cols; i++) b[16 + i] = fill(i) & 255;
  return b;
}

function labels(values: number[]): Buffer {
  const b = Buffer.alloc(8 + values.length);
  b.writeUInt32BE(0x801, 0);
  b.writeUInt32BE(values.length, 4);
  values.forEach((v, i) => (b[8 + i] = v));
  return b;
}

function writeIdx(dir: string, gz: boolean, opts: { trainLabels?: number[]; truncate?: boolean } = {}): void {
  mkdirSync(dir, { recursive: true });
  const enc = (b: Buffer): Buffer => (gz ? gzipSync(b) : b);
  const ext = gz ? '.gz' : '';
  let train = images(6, 4, 4, (i) => i);
  if (opts.truncate === true) train = train.subarray(0, train.length - 5);
  writeFileSync(join(dir, `train-images-idx3-ubyte${ext}`), enc(train));
  writeFileSync(join(dir, `train-labels-idx1-ubyte${ext}`), enc(labels(opts.trainLabels ?? [0, 1, 2, 0, 1, 2])));
  writeFileSync(join(dir, `t10k-images-idx3-ubyte${ext}`), enc(images(3, 4, 4, (i) => 255 - i)));
  writeFileSync(join(dir, `t10k-labels-idx1-ubyte${ext}`), enc(labels([2, 1, 0])));
}

describe('IDX datasets', () => {
  it.each([false, true])('reads images and labels (gzipped: %s)', (gz) => {
    const dir = join(root, `ok-${gz}`);
    writeIdx(dir, gz);
    expect(isIdxDir(dir)).toBe(true);
    const d = loadIdx(dir);
    expect(d).toMatchObject({ height: 4, width: 4, channels: 1, classes: ['0', '1', '2'] });
    expect(d.train.count).toBe(6);
    expect(Array.from(d.train.labels)).toEqual([0, 1, 2, 0, 1, 2]);
    expect(d.train.images[17]).toBe(17);
    expect(d.val.images[0]).toBe(255);
  });

  it('refuses a truncated file, naming it', () => {
    const dir = join(root, 'truncated');
    writeIdx(dir, false, { truncate: true });
    expect(() => loadIdx(dir)).toThrow(/train-images-idx3-ubyte is truncated/);
  });

  it('refuses a label count that does not match the images', () => {
    const dir = join(root, 'mismatch');
    writeIdx(dir, false, { trainLabels: [0, 1] });
    expect(() => loadIdx(dir)).toThrow(/has 2 labels for 6 images/);
  });

  it('applies --limit-train and --limit-val', () => {
    const dir = join(root, 'limits');
    writeIdx(dir, true);
    const d = loadTrainingData(dir, { limitTrain: 4, limitVal: 2 });
    expect(d.train.count).toBe(4);
    expect(d.train.images.length).toBe(4 * 16);
    expect(d.val.count).toBe(2);
  });

  it('reports a missing folder as an input error', () => {
    expect(() => loadTrainingData(join(root, 'missing'))).toThrow(InputError);
  });
});
