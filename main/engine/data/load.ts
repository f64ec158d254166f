import { existsSync, statSync } from 'node:fs';
import { InputError } from '../../../shared/errors.js';
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
 * Opens a data source for training: `synthetic[:…]`, or an IDX folder
 * (MNIST / Fashion-MNIST). Throws InputError naming the source when it
 * cannot be used.
 */
export function loadTrainingData(source: string, options: LoadOptions = {}): TrainingData {
  let data: TrainingData;
  const synthetic = parseSyntheticSpec(source);
  if (synthetic !== null) {
    data = synthesize(synthetic);
  } else {
    if (!existsSync(source)) throw new InputError(`data folder ${source} does not exist`, 'data');
    if (!statSync(source).isDirectory()) throw new InputError(`data ${source} is not a folder`, 'data');
    if (!isIdxDir(source)) {
      throw new InputError(
        `${source} is not a dataset Adjoin can read (expected IDX files such as train-images-idx3-ubyte[.gz])`,
        'data',
      );
    }
    data = loadIdx(source);
  }
  const pixels = pixelsPerImage(data);
  const { limitTrain, limitVal } = options;
  if (limitTrain != null) data = { ...data, train: headOf(data.train, limitTrain, pixels) };
  if (limitVal != null) data = { ...data, val: headOf(data.val, limitVal, pixels) };
  return data;
}
