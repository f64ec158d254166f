import { existsSync, statSync } from 'node:fs';
import { InputError } from '../../../shared/errors.js';
import { findCifar, loadCifar } from './cifar.js';
import { isIdxDir, loadIdx } from './idx.js';
import { parseSyntheticSpec, synthesize } from './synthetic.js';
import { headOf, pixelsPerImage, type TrainingData } from './types.js';

export interface LoadOptions {
  /** Keep only the first N training images. */
  limitTrain?: number | null;
  /** Keep only the first N validation images. */
  limitVal?: number | null;
}

/**
 * Opens a data source that needs no decoding: `synthetic[:…]`, an IDX folder
 * (MNIST / Fashion-MNIST) or CIFAR-10/100 binary batches. Image folders are
 * imported by `openTrainingData` (open.ts). Throws InputError naming the
 * source when it cannot be used.
 */
export function loadTrainingData(source: string, options: LoadOptions = {}): TrainingData {
  let data: TrainingData;
  const synthetic = parseSyntheticSpec(source);
  if (synthetic !== null) {
    data = synthesize(synthetic);
  } else {
    if (!existsSync(source)) throw new InputError(`data folder ${source} does not exist`, 'data');
    if (!statSync(source).isDirectory()) throw new InputError(`data ${source} is not a folder`, 'data');
    const cifar = findCifar(source);
    if (isIdxDir(source)) data = loadIdx(source);
    else if (cifar !== null) data = loadCifar(cifar);
    else {
      throw new InputError(
        `${source} is not a dataset Adjoin can read (expected IDX files such as train-images-idx3-ubyte[.gz] or CIFAR batches such as data_batch_1.bin)`,
        'data',
      );
    }
  }
  const pixels = pixelsPerImage(data);
  const { limitTrain, limitVal } = options;
  if (limitTrain != null) data = { ...data, train: headOf(data.train, limitTrain, pixels) };
  if (limitVal != null) data = { ...data, val: headOf(data.val, limitVal, pixels) };
  return data;
}

/** True if `source` names data `loadTrainingData` reads without decoding images. */
export function isPackedSource(source: string): boolean {
  if (parseSyntheticSpec(source) !== null) return true;
  return existsSync(source) && statSync(source).isDirectory() && (isIdxDir(source) || findCifar(source) !== null);
}
