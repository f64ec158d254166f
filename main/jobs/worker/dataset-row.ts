import { dataFingerprint } from '../../engine/data/fingerprint.js';
import type { TrainingData } from '../../engine/data/types.js';
import { dataShape } from '../../engine/data/shape.js';
import type { DatasetInput } from '../../../shared/history.js';

/** The decoded content's key: the same images give the same dataset row. */
export const datasetKey = dataFingerprint;

/** The dataset row of a training run; `split` says how its images were divided and limited. */
export function describeDataset(source: string, data: TrainingData, split: Record<string, unknown>): DatasetInput {
  return {
    path: source,
    contentKey: datasetKey(data),
    name: data.name,
    summary: dataShape(data),
    split,
  };
}
