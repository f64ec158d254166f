import { createHash } from 'node:crypto';
import type { TrainingData } from './types.js';

/**
 * A key of the decoded content: classes, geometry, pixels and labels of both
 * splits. The same images give the same key wherever the folder lives; a
 * teacher and its student must share it (knowledge distillation compares
 * networks trained on the same data).
 */
export function dataFingerprint(data: TrainingData): string {
  const h = createHash('sha256');
  h.update(JSON.stringify({ classes: data.classes, height: data.height, width: data.width, channels: data.channels }));
  for (const split of [data.train, data.val]) {
    h.update(`|${split.count}|`);
    h.update(split.images);
    h.update(new Uint8Array(split.labels.buffer, split.labels.byteOffset, split.labels.byteLength));
  }
  return h.digest('hex');
}
