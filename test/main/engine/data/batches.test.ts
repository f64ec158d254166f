import { describe, expect, it } from 'vitest';
import type { Augmentation } from '../../../../shared/train-config.js';
import { BatchBuilder, centerCrop, channelStats, normalizationFor, randomResizedCrop, type Normalization } from '../../../../main/engine/data/batches.js';
import type { TrainingData } from '../../../../main/engine/data/types.js';
import { Rng } from '../../../../main/engine/rng.js';

/** One-split datasets of given HWC images (the same images serve as validation). */
function dataset(images: number[][], h: number, w: number, channels: number): TrainingData {
  const split = { images: Uint8Array.from(images.flat()), labels: Int32Array.from(images.map((_, i) => i % 2)), count: images.length };
  return { name: 't', source: 't', classes: ['a', 'b'], height: h, width: w, channels, train: split, val: split };
}

/** An image whose channel 0 is 10·x and channel 1 is 10·y: sampled values reveal where they came from. */
function ramps(side: number): number[] {
  const px: number[] = [];
  for (let y = 0; y < side; y++) for (let x = 0; x < side; x++) px.push(10 * x, 10 * y, 0);
  return px;
}

const IDENTITY: Normalization = { mean: [0, 0, 0], std: [1, 1, 1] };

describe('randomResizedCrop (appendix B)', () => {
  const rng = new Rng(11);
  const draws = Array.from({ length: 20000 }, () => randomResizedCrop(32, 32, rng));
  const areas = draws.map((c) => (c.h * c.w) / (32 * 32));
  const aspects = draws.map((c) => c.w / c.h);

  it('keeps every crop inside the image, with area 0.08–1 and aspect 3/4–4/3', () => {
    for (const c of draws) {
      expect(c.x).toBeGreaterThanOrEqual(0);
      expect(c.y).toBeGreaterThanOrEqual(0);
      expect(c.x + c.w).toBeLessThanOrEqual(32 + 1e-9);
      expect(c.y + c.h).toBeLessThanOrEqual(32 + 1e-9);
    }
    expect(Math.min(...areas)).toBeGreaterThanOrEqual(0.08 - 1e-9);
    expect(Math.max(...areas)).toBeLessThanOrEqual(1 + 1e-9);
    expect(Math.min(...aspects)).toBeGreaterThanOrEqual(3 / 4 - 1e-9);
    expect(Math.max(...aspects)).toBeLessThanOrEqual(4 / 3 + 1e-9);
  });

  it('covers the whole ranges: areas near 0.08 and 1, aspects near both ends, log-aspect centred on 0', () => {
    expect(Math.min(...areas)).toBeLessThan(0.085);
    expect(Math.max(...areas)).toBeGreaterThan(0.99);
    expect(Math.min(...aspects)).toBeLessThan(0.76);
    expect(Math.max(...aspects)).toBeGreaterThan(1.32);
    const meanLog = aspects.reduce((s, a) => s + Math.log(a), 0) / aspects.length;
    expect(Math.abs(meanLog)).toBeLessThan(0.01);
    // Area is drawn uniformly in [0.08, 1], but on a square a draw fits only if
    // |log aspect| ≤ −log area, and misfits are redrawn: the kept areas have
    // density ∝ min(1, −ln A / ln(4/3)), whose mean works out to 0.478.
    const meanArea = areas.reduce((s, a) => s + a, 0) / areas.length;
    expect(Math.abs(meanArea - 0.478)).toBeLessThan(0.008);
  });

  it('spreads crop centres over the image', () => {
    const cx = draws.map((c) => c.x + c.w / 2);
    expect(Math.abs(cx.reduce((s, v) => s + v, 0) / cx.length - 16)).toBeLessThan(0.2);
  });

  it('falls back to the largest centred crop within the aspect range, as torchvision does', () => {
    const alwaysTooBig = { uniform: () => 0.999999 } as Rng;
    expect(randomResizedCrop(20, 20, alwaysTooBig)).toEqual({ y: 0, x: 0, h: 20, w: 20 });
    const wide = randomResizedCrop(10, 40, alwaysTooBig);
    expect(wide.h).toBe(10);
    expect(wide.w).toBeCloseTo(40 / 3, 10);
    expect(wide.x).toBeCloseTo((40 - 40 / 3) / 2, 10);
    const tall = randomResizedCrop(40, 10, alwaysTooBig);
    expect(tall).toMatchObject({ w: 10, h: 40 / 3, x: 0 });
  });
});

describe('centerCrop', () => {
  it('takes the centred 85% of the area at the image aspect', () => {
    const c = centerCrop(30, 20);
    expect(c.h * c.w).toBeCloseTo(0.85 * 600, 9);
    expect(c.w / c.h).toBeCloseTo(20 / 30, 9);
    expect(c.y + c.h / 2).toBeCloseTo(15, 9);
    expect(c.x + c.w / 2).toBeCloseTo(10, 9);
  });
});

describe('BatchBuilder', () => {
  it('normalises with the mean and standard deviation of the training split, computed by hand', () => {
    // Pixels 0, 255, 51, 204 → 0, 1, 0.2, 0.8: mean 0.5, variance 0.42 − 0.25 = 0.17.
    const d = dataset(
      [
        [0, 255],
        [51, 204],
      ],
      1,
      2,
      1,
    );
    const norm = channelStats(d, 1);
    expect(norm.mean[0]).toBeCloseTo(0.5, 12);
    expect(norm.std[0]).toBeCloseTo(Math.sqrt(0.17), 12);
    const { x } = new BatchBuilder(d, 2, 1, norm, 'none').build(d.val, [0], false, null);
    expect(x[0]).toBeCloseTo(-0.5 / Math.sqrt(0.17), 5);
    expect(x[1]).toBeCloseTo(0.5 / Math.sqrt(0.17), 5);
  });

  it('computes per-channel statistics, and luminance statistics for a one-channel model', () => {
    const d = dataset(
      [
        [10, 20, 30],
        [30, 40, 50],
      ],
      1,
      1,
      3,
    );
    const rgb = channelStats(d, 3);
    expect(rgb.mean.map((m) => m * 255)).toEqual([20, 30, 40].map((v) => expect.closeTo(v, 9)));
    expect(rgb.std.map((s) => s * 255)).toEqual([10, 10, 10].map((v) => expect.closeTo(v, 6)));
    const luma = (r: number, g: number, b: number): number => 0.299 * r + 0.587 * g + 0.114 * b;
    expect(channelStats(d, 1).mean[0]! * 255).toBeCloseTo((luma(10, 20, 30) + luma(30, 40, 50)) / 2, 9);
  });

  it('flips training images with probability 1/2 (cifar), each exactly mirrored or not', () => {
    const d = dataset([ramps(8)], 8, 8, 3);
    const builder = new BatchBuilder(d, 8, 3, IDENTITY, 'cifar');
    const plain = builder.build(d.train, [0], false, null).x;
    const rng = new Rng(5);
    let flips = 0;
    const trials = 4000;
    for (let t = 0; t < trials; t++) {
      const x = builder.build(d.train, [0], true, rng).x;
      if (x[0] !== plain[0]) {
        flips++;
        // Row 3, column 1 of a flip is column 6 of the original.
        expect(x[(3 * 8 + 1) * 3]).toBe(plain[(3 * 8 + 6) * 3]);
      } else {
        expect(x).toEqual(plain);
      }
    }
    // Binomial(4000, 1/2): sd 0.0079; six sd either side.
    expect(Math.abs(flips / trials - 0.5)).toBeLessThan(0.048);
  });

  it('crops training images by the recipe: implied crop areas and aspects stay in range (imagenet)', () => {
    const side = 24;
    const d = dataset([ramps(side)], side, side, 3);
    const builder = new BatchBuilder(d, side, 3, IDENTITY, 'imagenet');
    const rng = new Rng(9);
    const at = (x: Float32Array, row: number, col: number, c: number): number => x[(row * side + col) * 3 + c]! * 255;
    let flips = 0;
    for (let t = 0; t < 500; t++) {
      const x = builder.build(d.train, [0], true, rng).x;
      // Bilinear sampling of a ramp is exact, so slopes give the crop's size in source pixels.
      const dx = (at(x, 12, side - 3, 0) - at(x, 12, 2, 0)) / (side - 5);
      const dy = (at(x, side - 3, 12, 1) - at(x, 2, 12, 1)) / (side - 5);
      if (dx < 0) flips++;
      const w = (Math.abs(dx) * side) / 10;
      const h = (dy * side) / 10;
      expect((w * h) / (side * side)).toBeGreaterThan(0.08 - 1e-3);
      expect((w * h) / (side * side)).toBeLessThan(1 + 1e-3);
      expect(w / h).toBeGreaterThan(3 / 4 - 1e-3);
      expect(w / h).toBeLessThan(4 / 3 + 1e-3);
    }
    expect(flips).toBeGreaterThan(180);
    expect(flips).toBeLessThan(320);
  });

  it('shows validation images as the centre 85% crop (imagenet), never at random', () => {
    const side = 20;
    const d = dataset([ramps(side)], side, side, 3);
    const builder = new BatchBuilder(d, side, 3, IDENTITY, 'imagenet');
    const a = builder.build(d.val, [0], false, new Rng(1)).x;
    expect(builder.build(d.val, [0], false, new Rng(2)).x).toEqual(a);
    const w = side * Math.sqrt(0.85);
    const x0 = (side - w) / 2;
    for (const ox of [0, 7, 19]) {
      const sx = x0 + ((ox + 0.5) * w) / side - 0.5;
      expect(a[(5 * side + ox) * 3]! * 255).toBeCloseTo(10 * sx, 3);
    }
  });

  it.each(['none', 'cifar'] as Augmentation[])('shows validation images whole and unflipped (%s)', (augmentation) => {
    const d = dataset([ramps(6)], 6, 6, 3);
    const builder = new BatchBuilder(d, 6, 3, IDENTITY, augmentation);
    const x = builder.build(d.val, [0], false, new Rng(3)).x;
    expect(Array.from(x, (v) => Math.round(v * 255))).toEqual(ramps(6));
  });

  it('leaves training images alone without augmentation', () => {
    const d = dataset([ramps(6)], 6, 6, 3);
    const builder = new BatchBuilder(d, 6, 3, IDENTITY, 'none');
    const rng = new Rng(4);
    for (let t = 0; t < 20; t++) expect(builder.build(d.train, [0], true, rng).x).toEqual(builder.build(d.val, [0], false, null).x);
  });
});

describe('normalizationFor (appendix B)', () => {
  const gray: TrainingData = {
    name: 't',
    source: 't',
    classes: ['a', 'b'],
    height: 1,
    width: 2,
    channels: 1,
    train: { images: Uint8Array.from([0, 255, 51, 102]), labels: Int32Array.from([0, 1]), count: 2 },
    val: { images: new Uint8Array(2), labels: Int32Array.from([0]), count: 1 },
  };

  it('the ImageNet recipe only divides by 255', () => {
    expect(normalizationFor('imagenet', gray, 3)).toEqual({ mean: [0, 0, 0], std: [1, 1, 1] });
  });

  it('the CIFAR recipe standardises with the training split’s statistics', () => {
    const n = normalizationFor('cifar', gray, 1);
    const values = [0, 1, 0.2, 0.4];
    const mean = values.reduce((a, b) => a + b, 0) / 4;
    expect(n.mean[0]).toBeCloseTo(mean, 9);
    expect(n.std[0]).toBeCloseTo(Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / 4), 6);
  });
});
