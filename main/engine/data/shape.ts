import type { DataInfo } from '../../../shared/events.js';
import type { TrainingData } from './types.js';

/** The figures that describe a dataset's images: classes, split sizes, image shape. */
export function dataShape(data: TrainingData): Pick<DataInfo, 'classes' | 'trainCount' | 'valCount' | 'height' | 'width' | 'channels'> {
  return { classes: data.classes, trainCount: data.train.count, valCount: data.val.count, height: data.height, width: data.width, channels: data.channels };
}
