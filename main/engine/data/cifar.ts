import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { InputError } from '../../../shared/errors.js';
import type { ImageSplit, TrainingData } from './types.js';

/**
 * The CIFAR binary format (https://www.cs.toronto.edu/~kriz/cifar.html):
 * records of label byte(s) then 3072 bytes of a 32×32 image as three
 * 1024-byte planes (R, G, B). CIFAR-10 has one label byte and
 * `data_batch_1..5.bin` + `test_batch.bin`; CIFAR-100 has a coarse and a
 * fine label byte and `train.bin` + `test.bin` — the paper's CIFAR-100
 * results use the 100 fine labels, and so do we.
 */
export interface CifarFiles {
  variant: 'cifar-10' | 'cifar-100';
  dir: string;
  train: string[];
  test: string;
  /** Class names file, when present. */
  names: string | null;
}

const SIDE = 32;
const PLANE = SIDE * SIDE;
const IMAGE_BYTES = 3 * PLANE;

const CIFAR10_CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];

/** The folders the official archives unpack to, tried below the folder the user chose. */
const ARCHIVE_FOLDERS = ['cifar-10-batches-bin', 'cifar-100-binary'];

function filesIn(dir: string): CifarFiles | null {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) return null;
  const names = readdirSync(dir);
  const has = (n: string): boolean => names.includes(n);
  const batches = names.filter((n) => /^data_batch_\d+\.bin$/.test(n)).sort((a, b) => Number(/\d+/.exec(a)![0]) - Number(/\d+/.exec(b)![0]));
  if (batches.length > 0 && has('test_batch.bin')) {
    return {
      variant: 'cifar-10',
      dir,
      train: batches.map((n) => join(dir, n)),
      test: join(dir, 'test_batch.bin'),
      names: has('batches.meta.txt') ? join(dir, 'batches.meta.txt') : null,
    };
  }
  if (has('train.bin') && has('test.bin')) {
    return {
      variant: 'cifar-100',
      dir,
      train: [join(dir, 'train.bin')],
      test: join(dir, 'test.bin'),
      names: has('fine_label_names.txt') ? join(dir, 'fine_label_names.txt') : null,
    };
  }
  return null;
}

/** Finds CIFAR-10/100 binary files in `root` or in the folder its archive unpacks to. */
export function findCifar(root: string): CifarFiles | null {
  return filesIn(root) ?? ARCHIVE_FOLDERS.map((f) => filesIn(join(root, f))).find((f) => f !== null) ?? null;
}

function classNames(files: CifarFiles): string[] {
  const count = files.variant === 'cifar-10' ? 10 : 100;
  if (files.names !== null) {
    const names = readFileSync(files.names, 'utf8')
      .split(/\r?\n/)
      .map((s) => s.trim())
      .filter((s) => s !== '');
    if (names.length !== count) throw new InputError(`${files.names} names ${names.length} classes; ${files.variant} has ${count}`, 'data');
    return names;
  }
  return files.variant === 'cifar-10' ? CIFAR10_CLASSES : Array.from({ length: count }, (_, i) => String(i));
}

function readRecords(paths: readonly string[], labelBytes: number, classCount: number): ImageSplit {
  const record = labelBytes + IMAGE_BYTES;
  const buffers = paths.map((p) => {
    const b = readFileSync(p);
    if (b.length === 0 || b.length % record !== 0) {
      throw new InputError(`${p} is truncated or not a CIFAR batch: ${b.length} bytes is not a whole number of ${record}-byte records`, 'data');
    }
    return b;
  });
  const count = buffers.reduce((n, b) => n + b.length / record, 0);
  const images = new Uint8Array(count * IMAGE_BYTES);
  const labels = new Int32Array(count);
  let i = 0;
  for (const [k, b] of buffers.entries()) {
    for (let at = 0; at < b.length; at += record, i++) {
      // The fine label is the last label byte (CIFAR-100: coarse, fine).
      const label = b[at + labelBytes - 1]!;
      if (label >= classCount) throw new InputError(`${paths[k]} has label ${label} at record ${at / record}; expected below ${classCount}`, 'data');
      labels[i] = label;
      const src = at + labelBytes;
      const dst = i * IMAGE_BYTES;
      // Planes (CHW) to interleaved pixels (HWC), the engine's layout.
      for (let p = 0; p < PLANE; p++) {
        images[dst + 3 * p] = b[src + p]!;
        images[dst + 3 * p + 1] = b[src + PLANE + p]!;
        images[dst + 3 * p + 2] = b[src + 2 * PLANE + p]!;
      }
    }
  }
  return { images, labels, count };
}

export function loadCifar(files: CifarFiles): TrainingData {
  const classes = classNames(files);
  const labelBytes = files.variant === 'cifar-10' ? 1 : 2;
  return {
    name: basename(files.dir),
    source: files.dir,
    classes,
    height: SIDE,
    width: SIDE,
    channels: 3,
    train: readRecords(files.train, labelBytes, classes.length),
    val: readRecords([files.test], labelBytes, classes.length),
  };
}
