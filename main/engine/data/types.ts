/** Images as uint8 HWC pixels, one after another, with integer labels. */
export interface ImageSplit {
  images: Uint8Array;
  labels: Int32Array;
  count: number;
}

/** What the engine trains on: decoded, fixed-size images of a known set of classes. */
export interface TrainingData {
  /** Shown to the user and stored with runs. */
  name: string;
  /** Where it came from (a folder, an IDX directory, `synthetic:…`). */
  source: string;
  classes: string[];
  height: number;
  width: number;
  channels: number;
  train: ImageSplit;
  val: ImageSplit;
}

export function pixelsPerImage(d: Pick<TrainingData, 'height' | 'width' | 'channels'>): number {
  return d.height * d.width * d.channels;
}

/** The first `n` images of a split (for `--limit-train`). */
export function headOf(split: ImageSplit, n: number, pixels: number): ImageSplit {
  const count = Math.min(n, split.count);
  return { images: split.images.subarray(0, count * pixels), labels: split.labels.subarray(0, count), count };
}
