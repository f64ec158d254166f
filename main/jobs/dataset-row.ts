import { createHash } from 'node:crypto';
import type { TrainingData } from '../engine/data/types.js';
import type { DatasetInput } from '../store/datasets.js';

/**
 * A key of the decoded content: classes, geometry, pixels and labels of both
 * splits. The same images give the same key wherever the folder lives.
 */
export function datasetKey(data: TrainingData): string {
  const h = createHash('sha256');
  h.update(JSON.stringify({ classes: data.classes, height: data.height, width: data.width, channels: data.channels }));
  for (const split of [data.train, data.val]) {
    h.update(`|${split.count}|`);
    h.update(split.images);
    h.update(new Uint8Array(split.labels.buffer, split.labels.byteOffset, split.labels.byteLength));
  }
  return h.digest('hex');
}

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

