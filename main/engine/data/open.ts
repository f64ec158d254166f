import type { DatasetRecord } from '../../../shared/dataset.js';
import { importImageFolder, type ImportOptions } from './import-folder.js';
import { isPackedSource, loadTrainingData, type LoadOptions } from './load.js';
import { headOf, pixelsPerImage, type TrainingData } from './types.js';

export type OpenOptions = LoadOptions & ImportOptions;

export interface OpenedData {
  data: TrainingData;
  /** For image folders: what the import did (cache, split, skipped files); null for IDX, CIFAR and synthetic data. */
  record: DatasetRecord | null;
}

/**
 * Opens any data source for training: synthetic data, IDX and CIFAR files
 * directly, image folders through the importer (decoded once, then cached).
 */
export async function openTrainingData(source: string, options: OpenOptions): Promise<OpenedData> {
  if (isPackedSource(source)) return { data: loadTrainingData(source, options), record: null };
  const { data, record } = await importImageFolder(source, options);
  const pixels = pixelsPerImage(data);
  const { limitTrain, limitVal } = options;
  let limited = data;
  if (limitTrain != null) limited = { ...limited, train: headOf(limited.train, limitTrain, pixels) };
  if (limitVal != null) limited = { ...limited, val: headOf(limited.val, limitVal, pixels) };
  return { data: limited, record };
}
