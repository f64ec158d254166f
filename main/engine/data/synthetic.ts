import { InputError } from '../../../shared/errors.js';
import { Rng } from '../rng.js';
import type { ImageSplit, TrainingData } from './types.js';

export interface SyntheticSpec {
  classes: number;
  size: number;
  channels: number;
  train: number;
  val: number;
  seed: number;
}

const DEFAULTS: SyntheticSpec = { classes: 4, size: 16, channels: 1, train: 256, val: 64, seed: 0 };

/**
 * Parses `synthetic` or `synthetic:classes=4,size=16,channels=1,train=256,val=64,seed=0`.
 */
export function parseSyntheticSpec(source: string): SyntheticSpec | null {
  if (source !== 'synthetic' && !source.startsWith('synthetic:')) return null;
  const spec: SyntheticSpec = { ...DEFAULTS };
  const rest = source.slice('synthetic'.length + 1);
  for (const part of rest === '' ? [] : rest.split(',')) {
    const [key, value] = part.split('=');
    const n = Number(value);
    if (key === undefined || !(key in spec) || !Number.isInteger(n) || n < 0) {
      throw new InputError(`bad synthetic data option '${part}' (use classes=, size=, channels=, train=, val=, seed=)`, 'data');
    }
    spec[key as keyof SyntheticSpec] = n;
  }
  if (spec.classes < 2) throw new InputError('synthetic data needs at least 2 classes', 'data');
  if (spec.channels !== 1 && spec.channels !== 3) throw new InputError('synthetic channels must be 1 or 3', 'data');
  if (spec.size < 4) throw new InputError('synthetic size must be at least 4', 'data');
  return spec;
}

/**
 * Learnable images: each class is a smooth random template (a few Gaussian
 * blobs); an image is its class template, shifted by up to two pixels, plus
 * noise. Deterministic in the seed.
 */
export function synthesize(spec: SyntheticSpec): TrainingData {
  const rng = new Rng(spec.seed);
  const { size, channels, classes } = spec;
  const pixels = size * size * channels;
  const templates: Float32Array[] = [];
  for (let k = 0; k < classes; k++) {
    const t = new Float32Array(pixels);
    for (let blob = 0; blob < 3; blob++) {
      const cy = rng.uniform() * size;
      const cx = rng.uniform() * size;
      const r = size * (0.12 + 0.2 * rng.uniform());
      const colour = Array.from({ length: channels }, () => 0.3 + 0.7 * rng.uniform());
      for (let y = 0; y < size; y++) {
        for (let x = 0; x < size; x++) {
          const v = Math.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * r * r));
          for (let c = 0; c < channels; c++) t[(y * size + x) * channels + c]! += v * colour[c]!;
        }
      }
    }
    templates.push(t);
  }
  const make = (n: number): ImageSplit => {
    const images = new Uint8Array(n * pixels);
    const labels = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const k = i % classes;
      labels[i] = k;
      const t = templates[k]!;
      const dy = rng.int(5) - 2;
      const dx = rng.int(5) - 2;
      for (let y = 0; y < size; y++) {
        for (let x = 0; x < size; x++) {
          const sy = Math.min(size - 1, Math.max(0, y + dy));
          const sx = Math.min(size - 1, Math.max(0, x + dx));
          for (let c = 0; c < channels; c++) {
            const v = t[(sy * size + sx) * channels + c]! * 200 + rng.normal() * 20;
            images[i * pixels + (y * size + x) * channels + c] = Math.max(0, Math.min(255, Math.round(v)));
          }
        }
      }
    }
    return { images, labels, count: n };
  };
  return {
    name: `synthetic-${classes}x${size}`,
    source: `synthetic:classes=${classes},size=${size},channels=${channels},train=${spec.train},val=${spec.val},seed=${spec.seed}`,
    classes: Array.from({ length: classes }, (_, i) => `class-${i}`),
    height: size,
    width: size,
    channels,
    train: make(spec.train),
    val: make(spec.val),
  };
}
