import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { InputError } from '../../../shared/errors.js';
import type { ImageSplit, TrainingData } from './types.js';

const IMAGES_MAGIC = 0x00000803;
const LABELS_MAGIC = 0x00000801;

const FASHION_CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];

function findFile(dir: string, stem: string): string | null {
  for (const name of [stem, `${stem}.gz`, stem.replace('-idx', '.idx'), `${stem.replace('-idx', '.idx')}.gz`]) {
    const p = join(dir, name);
    if (existsSync(p)) return p;
  }
  return null;
}

function readMaybeGz(path: string): Buffer {
  const raw = readFileSync(path);
  if (raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b) {
    try {
      return gunzipSync(raw);
    } catch (e) {
      throw new InputError(`${path} is not a readable gzip file (${(e as Error).message})`, 'data');
    }
  }
  return raw;
}

function readImages(path: string): { images: Uint8Array; count: number; rows: number; cols: number } {
  const b = readMaybeGz(path);
  if (b.length < 16 || b.readUInt32BE(0) !== IMAGES_MAGIC) {
    throw new InputError(`${path} is not an IDX image file (bad magic number)`, 'data');
  }
  const count = b.readUInt32BE(4);
  const rows = b.readUInt32BE(8);
  const cols = b.readUInt32BE(12);
  if (b.length !== 16 + count * rows * cols) {
    throw new InputError(`${path} is truncated: header says ${count} images of ${rows}×${cols}, file has ${b.length} bytes`, 'data');
  }
  return { images: new Uint8Array(b.buffer, b.byteOffset + 16, count * rows * cols), count, rows, cols };
}

function readLabels(path: string): Int32Array {
  const b = readMaybeGz(path);
  if (b.length < 8 || b.readUInt32BE(0) !== LABELS_MAGIC) {
    throw new InputError(`${path} is not an IDX label file (bad magic number)`, 'data');
  }
  const count = b.readUInt32BE(4);
  if (b.length !== 8 + count) throw new InputError(`${path} is truncated`, 'data');
  return Int32Array.from(b.subarray(8, 8 + count));
}

/** True if `dir` holds an MNIST-style IDX dataset. */
export function isIdxDir(dir: string): boolean {
  return (
    existsSync(dir) && statSync(dir).isDirectory() && findFile(dir, 'train-images-idx3-ubyte') !== null && findFile(dir, 'train-labels-idx1-ubyte') !== null
  );
}

function readSplit(dir: string, prefix: 'train' | 't10k'): { split: ImageSplit; rows: number; cols: number } | null {
  const imagesPath = findFile(dir, `${prefix}-images-idx3-ubyte`);
  const labelsPath = findFile(dir, `${prefix}-labels-idx1-ubyte`);
  if (imagesPath === null || labelsPath === null) return null;
  const { images, count, rows, cols } = readImages(imagesPath);
  const labels = readLabels(labelsPath);
  if (labels.length !== count) {
    throw new InputError(`${labelsPath} has ${labels.length} labels for ${count} images in ${imagesPath}`, 'data');
  }
  return { split: { images, labels, count }, rows, cols };
}

/**
 * Reads an MNIST / Fashion-MNIST folder (IDX files, gzipped or not): the
 * training files, and the t10k files as the validation split.
 */
export function loadIdx(dir: string): TrainingData {
  const train = readSplit(dir, 'train');
  if (train === null) throw new InputError(`${dir} has no train-images-idx3-ubyte / train-labels-idx1-ubyte files`, 'data');
  const test = readSplit(dir, 't10k');
  if (test === null) throw new InputError(`${dir} has no t10k-images-idx3-ubyte / t10k-labels-idx1-ubyte files for validation`, 'data');
  if (test.rows !== train.rows || test.cols !== train.cols) {
    throw new InputError(`${dir}: training images are ${train.rows}×${train.cols} but test images are ${test.rows}×${test.cols}`, 'data');
  }
  let maxLabel = 0;
  for (const l of train.split.labels) maxLabel = Math.max(maxLabel, l);
  for (const l of test.split.labels) maxLabel = Math.max(maxLabel, l);
  const classesFile = join(dir, 'classes.txt');
  let classes: string[];
  if (existsSync(classesFile)) {
    classes = readFileSync(classesFile, 'utf8')
      .split('\n')
      .map((s) => s.trim())
      .filter((s) => s !== '');
  } else if (maxLabel === 9 && /fashion/i.test(dir)) {
    classes = FASHION_CLASSES;
  } else {
    classes = Array.from({ length: maxLabel + 1 }, (_, i) => String(i));
  }
  if (classes.length <= maxLabel) {
    throw new InputError(`${classesFile} names ${classes.length} classes but labels go up to ${maxLabel}`, 'data');
  }
  return {
    name: basename(dir),
    source: dir,
    classes,
    height: train.rows,
    width: train.cols,
    channels: 1,
    train: train.split,
    val: test.split,
  };
}
