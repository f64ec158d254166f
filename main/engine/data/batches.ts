import type { Augmentation } from '../../../shared/train-config.js';
import type { Rng } from '../rng.js';
import { pixelsPerImage, type ImageSplit, type TrainingData } from './types.js';

export interface Normalization {
  /** Per model channel, in [0, 1] units. */
  mean: number[];
  std: number[];
}

/** Reads channel `c` of the model's view of a pixel whose data has `dataChannels` channels. */
function modelChannel(src: Uint8Array, base: number, dataChannels: number, modelChannels: number, c: number): number {
  if (dataChannels === modelChannels) return src[base + c]!;
  if (dataChannels === 1) return src[base]!;
  // RGB seen by a one-channel model: ITU-R BT.601 luma.
  return 0.299 * src[base]! + 0.587 * src[base + 1]! + 0.114 * src[base + 2]!;
}

/**
 * The input normalisation of a recipe (appendix B): the CIFAR recipe
 * standardises with the training split's per-channel mean and standard
 * deviation; the ImageNet recipe only divides by 255.
 */
export function normalizationFor(augmentation: Augmentation, data: TrainingData, modelChannels: number): Normalization {
  if (augmentation === 'imagenet') {
    return { mean: new Array<number>(modelChannels).fill(0), std: new Array<number>(modelChannels).fill(1) };
  }
  return channelStats(data, modelChannels);
}

/**
 * Per-channel mean and standard deviation of the training split, in the
 * model's channels (appendix B normalises with the training set's statistics).
 */
export function channelStats(data: TrainingData, modelChannels: number): Normalization {
  const { train, channels } = data;
  const pixels = data.height * data.width;
  const sum = new Float64Array(modelChannels);
  const sq = new Float64Array(modelChannels);
  const n = train.count * pixels;
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < modelChannels; c++) {
      const v = modelChannel(train.images, i * channels, channels, modelChannels, c) / 255;
      sum[c]! += v;
      sq[c]! += v * v;
    }
  }
  const mean = Array.from(sum, (s) => s / Math.max(n, 1));
  const std = Array.from(sq, (s, c) => Math.sqrt(Math.max(s / Math.max(n, 1) - mean[c]! ** 2, 1e-12)));
  return { mean, std: std.map((s) => Math.max(s, 1e-3)) };
}

interface Crop {
  y: number;
  x: number;
  h: number;
  w: number;
  flip: boolean;
}

export type Region = Omit<Crop, 'flip'>;

const MIN_AREA = 0.08;
const MIN_ASPECT = 3 / 4;
const MAX_ASPECT = 4 / 3;

/**
 * Random resized crop (appendix B): a region of 0.08–1 of the area with
 * aspect ratio (width / height) in [3/4, 4/3], anywhere in the image. As in
 * torchvision's RandomResizedCrop (the PyTorch transform appendix B
 * describes), the aspect is drawn uniformly in log space, so 3/4 and 4/3 are
 * equally likely; a draw that does not fit is redrawn up to ten times, and
 * then the largest centred region within the aspect range is taken.
 */
export function randomResizedCrop(height: number, width: number, rng: Rng): Region {
  const area = height * width;
  for (let attempt = 0; attempt < 10; attempt++) {
    const target = area * (MIN_AREA + (1 - MIN_AREA) * rng.uniform());
    const logRatio = Math.log(MIN_ASPECT) + (Math.log(MAX_ASPECT) - Math.log(MIN_ASPECT)) * rng.uniform();
    const ratio = Math.exp(logRatio);
    const w = Math.sqrt(target * ratio);
    const h = Math.sqrt(target / ratio);
    if (w <= width && h <= height) {
      return { y: rng.uniform() * (height - h), x: rng.uniform() * (width - w), h, w };
    }
  }
  const aspect = width / height;
  const w = aspect > MAX_ASPECT ? height * MAX_ASPECT : width;
  const h = aspect < MIN_ASPECT ? width / MIN_ASPECT : height;
  return { y: (height - h) / 2, x: (width - w) / 2, h, w };
}

/** Validation view of the ImageNet recipe (appendix B): the centre 85% of the area. */
export function centerCrop(height: number, width: number): Region {
  const f = Math.sqrt(0.85);
  const h = height * f;
  const w = width * f;
  return { y: (height - h) / 2, x: (width - w) / 2, h, w };
}

/**
 * Turns uint8 images into normalised float batches at the model's input size
 * and channels, with the recipe's augmentation on training batches.
 */
export class BatchBuilder {
  private readonly pixels: number;

  constructor(
    private readonly data: TrainingData,
    private readonly inputSize: number,
    private readonly modelChannels: number,
    private readonly norm: Normalization,
    private readonly augmentation: Augmentation,
  ) {
    this.pixels = pixelsPerImage(data);
  }

  get imageSize(): number {
    return this.inputSize * this.inputSize * this.modelChannels;
  }

  private cropFor(train: boolean, rng: Rng | null): Crop {
    const { height, width } = this.data;
    const full = { y: 0, x: 0, h: height, w: width };
    switch (this.augmentation) {
      case 'none':
        return { ...full, flip: false };
      case 'cifar':
        return { ...full, flip: train && rng !== null && rng.uniform() < 0.5 };
      case 'imagenet':
        if (train && rng !== null) return { ...randomResizedCrop(height, width, rng), flip: rng.uniform() < 0.5 };
        return { ...centerCrop(height, width), flip: false };
    }
  }

  /** Writes image `index` of `split` into `out` at `offset`. */
  private write(split: ImageSplit, index: number, crop: Crop, out: Float32Array, offset: number): void {
    const { height, width, channels } = this.data;
    const S = this.inputSize;
    const C = this.modelChannels;
    const src = split.images;
    const base = index * this.pixels;
    const scale = this.norm.std.map((s) => 1 / (255 * s));
    const shift = this.norm.mean.map((m, c) => m / this.norm.std[c]!);
    const direct = crop.h === height && crop.w === width && S === height && S === width;
    for (let oy = 0; oy < S; oy++) {
      for (let ox = 0; ox < S; ox++) {
        const tx = crop.flip ? S - 1 - ox : ox;
        const o = offset + (oy * S + ox) * C;
        if (direct) {
          const p = base + (oy * width + tx) * channels;
          for (let c = 0; c < C; c++) out[o + c] = modelChannel(src, p, channels, C, c) * scale[c]! - shift[c]!;
          continue;
        }
        // Bilinear sample at the centre of the output pixel, mapped into the crop.
        const sy = Math.min(Math.max(crop.y + ((oy + 0.5) * crop.h) / S - 0.5, 0), height - 1);
        const sx = Math.min(Math.max(crop.x + ((tx + 0.5) * crop.w) / S - 0.5, 0), width - 1);
        const y0 = Math.floor(sy);
        const x0 = Math.floor(sx);
        const y1 = Math.min(y0 + 1, height - 1);
        const x1 = Math.min(x0 + 1, width - 1);
        const fy = sy - y0;
        const fx = sx - x0;
        for (let c = 0; c < C; c++) {
          const v00 = modelChannel(src, base + (y0 * width + x0) * channels, channels, C, c);
          const v01 = modelChannel(src, base + (y0 * width + x1) * channels, channels, C, c);
          const v10 = modelChannel(src, base + (y1 * width + x0) * channels, channels, C, c);
          const v11 = modelChannel(src, base + (y1 * width + x1) * channels, channels, C, c);
          const v = (v00 * (1 - fx) + v01 * fx) * (1 - fy) + (v10 * (1 - fx) + v11 * fx) * fy;
          out[o + c] = v * scale[c]! - shift[c]!;
        }
      }
    }
  }

  /** A batch of the given image indices; `rng` drives augmentation on training batches. */
  build(split: ImageSplit, indices: ArrayLike<number>, train: boolean, rng: Rng | null): { x: Float32Array; y: Int32Array } {
    const n = indices.length;
    const x = new Float32Array(n * this.imageSize);
    const y = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const idx = indices[i]!;
      this.write(split, idx, this.cropFor(train, rng), x, i * this.imageSize);
      y[i] = split.labels[idx]!;
    }
    return { x, y };
  }
}
