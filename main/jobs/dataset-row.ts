import { dataFingerprint } from '../engine/data/fingerprint.js';
import type { TrainingData } from '../engine/data/types.js';
import type { DatasetInput } from '../store/datasets.js';

/** The decoded content's key: the same images give the same dataset row. */
export const datasetKey = dataFingerprint;

/** The dataset row of a training run; `split` says how its images were divided and limited. */
export function describeDataset(source: string, data: TrainingData, split: Record<string, unknown>): DatasetInput {
  return {
    path: source,
    contentKey: datasetKey(data),
    name: data.name,
    summary: {
      classes: data.classes,
      trainCount: data.train.count,
      valCount: data.val.count,
      height: data.height,
      width: data.width,
      channels: data.channels,
    },
    split,
  };
}

