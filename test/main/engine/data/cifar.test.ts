import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InputError } from '../../../../shared/errors.js';
import { findCifar, loadCifar } from '../../../../main/engine/data/cifar.js';
import { loadTrainingData } from '../../../../main/engine/data/load.js';
import { scanDataset } from '../../../../main/engine/data/scan.js';

const root = mkdtempSync(join(tmpdir(), 'adjoin-cifar-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** One CIFAR record: label byte(s), then the R, G and B planes; pixel p of channel c is (seed + c * 50 + p) & 255. */
function record(labels: number[], seed: number): Buffer {
  const b = Buffer.alloc(labels.length + 3072);
  labels.forEach((l, i) => (b[i] = l));
  for (let c = 0; c < 3; c++) for (let p = 0; p < 1024; p++) b[labels.length + c * 1024 + p] = (seed + c * 50 + p) & 255;
  return b;
}

function cifar10(dir: string, opts: { names?: boolean; truncate?: boolean; badLabel?: boolean } = {}): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'data_batch_1.bin'), Buffer.concat([record([3], 0), record([7], 1), record([opts.badLabel ? 12 : 0], 2)]));
  const second = Buffer.concat([record([9], 3), record([3], 4)]);
  writeFileSync(join(dir, 'data_batch_2.bin'), opts.truncate ? second.subarray(0, second.length - 1) : second);
  writeFileSync(join(dir, 'test_batch.bin'), Buffer.concat([record([1], 5), record([2], 6)]));
  if (opts.names) writeFileSync(join(dir, 'batches.meta.txt'), 'plane\ncar\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n');
}

describe('CIFAR-10 binary batches', () => {
  it('reads every training batch, the test batch as validation, and planes as HWC pixels', () => {
    const dir = join(root, 'c10');
    cifar10(dir, { names: true });
    const d = loadCifar(findCifar(dir)!);
    expect(d).toMatchObject({ height: 32, width: 32, channels: 3 });
    expect(d.classes[0]).toBe('plane');
    expect(d.train.count).toBe(5);
    expect(Array.from(d.train.labels)).toEqual([3, 7, 0, 9, 3]);
    expect(Array.from(d.val.labels)).toEqual([1, 2]);
    // Image 1, pixel 5: R = 1 + 5, G = 1 + 50 + 5, B = 1 + 100 + 5.
    const at = 1 * 3072 + 5 * 3;
    expect(Array.from(d.train.images.subarray(at, at + 3))).toEqual([6, 56, 106]);
  });

  it('uses the standard class names without batches.meta.txt, and finds the archive folder', () => {
    cifar10(join(root, 'archive', 'cifar-10-batches-bin'));
    const d = loadTrainingData(join(root, 'archive'));
    expect(d.classes).toEqual(['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck']);
  });

  it('refuses a truncated batch, naming it', () => {
    const dir = join(root, 'cut');
    cifar10(dir, { truncate: true });
    expect(() => loadTrainingData(dir)).toThrow(/data_batch_2\.bin is truncated or not a CIFAR batch/);
  });

  it('refuses a label outside the classes', () => {
    const dir = join(root, 'bad-label');
    cifar10(dir, { badLabel: true });
    expect(() => loadTrainingData(dir)).toThrow(InputError);
    expect(() => loadTrainingData(dir)).toThrow(/label 12 at record 2/);
  });

  it('scans as a cifar-10 dataset with counts and thumbnails', async () => {
    const dir = join(root, 'c10');
    const scan = await scanDataset(dir);
    expect(scan.layout).toBe('cifar-10');
    expect(scan.split).toEqual({ kind: 'files' });
    const cat = scan.classes.find((c) => c.name === 'cat')!;
    expect(cat).toMatchObject({ train: 2, val: 0 });
    expect(cat.thumbnails).toEqual([expect.stringMatching(/^data:image\/png;base64,/), expect.stringMatching(/^data:image\/png;base64,/)]);
    expect(scan.suggested).toEqual({ size: 32, channels: 3 });
  });
});

describe('CIFAR-100 binary batches', () => {
  it('uses the fine label (the second byte)', () => {
    const dir = join(root, 'c100');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'train.bin'), Buffer.concat([record([4, 99], 0), record([4, 30], 1)]));
    writeFileSync(join(dir, 'test.bin'), record([0, 5], 2));
    const d = loadTrainingData(dir);
    expect(d.classes).toHaveLength(100);
    expect(Array.from(d.train.labels)).toEqual([99, 30]);
    expect(Array.from(d.val.labels)).toEqual([5]);
    writeFileSync(join(dir, 'fine_label_names.txt'), Array.from({ length: 100 }, (_, i) => `fine${i}`).join('\n'));
    expect(loadTrainingData(dir).classes[99]).toBe('fine99');
    writeFileSync(join(dir, 'fine_label_names.txt'), 'just\ntwo\n');
    expect(() => loadTrainingData(dir)).toThrow(/names 2 classes; cifar-100 has 100/);
  });
});
