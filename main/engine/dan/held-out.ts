import type { ImageSplit } from '../data/types.js';
import { Rng } from '../rng.js';

/** Indices 0 … n−1 in an order drawn from `rng` (Fisher–Yates). */
export function shuffled(n: number, rng: Rng): Int32Array {
  const order = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = order[i]!;
    order[i] = order[j]!;
    order[j] = t;
  }
  return order;
}

/** The images at `indices` of `split`, copied, in that order. */
export function gather(split: ImageSplit, indices: Int32Array, pixels: number): ImageSplit {
  const images = new Uint8Array(indices.length * pixels);
  const labels = new Int32Array(indices.length);
  indices.forEach((src, k) => {
    images.set(split.images.subarray(src * pixels, (src + 1) * pixels), k * pixels);
    labels[k] = split.labels[src]!;
  });
  return { images, labels, count: indices.length };
}

export interface HeldOutSplit {
  /** What the weight steps train on. */
  weights: ImageSplit;
  /** What the η steps (and the final projection) measure on; the weights never see it. */
  heldOut: ImageSplit;
  /** Indices into the training split of each part, ascending. */
  weightIndices: Int32Array;
  heldOutIndices: Int32Array;
}

/**
 * Holds out round(fraction·n) training images for η: a plain shuffle of the
 * indices drawn from the search's own generator (not stratified by class;
 * with thousands of images each class's share differs from the whole's by a
 * few percent), the first part held out. Both parts keep the images' original
 * order, so the same seed gives the same split on resume.
 */
export function splitHeldOut(split: ImageSplit, fraction: number, rng: Rng, pixels: number): HeldOutSplit {
  const held = Math.round(fraction * split.count);
  if (held < 1 || held >= split.count) {
    throw new Error(`holding out ${fraction} of ${split.count} training images leaves one side empty; use more images`);
  }
  const order = shuffled(split.count, rng);
  const heldOutIndices = order.slice(0, held).sort();
  const weightIndices = order.slice(held).sort();
  return { weights: gather(split, weightIndices, pixels), heldOut: gather(split, heldOutIndices, pixels), weightIndices, heldOutIndices };
}

/** Where the η batches stand: the generator's state before the current pass's shuffle, and how far into the pass they are. */
export interface EtaOrderState {
  rng: [number, number, number, number];
  position: number;
}

/**
 * The η steps' batches: passes over the held-out images, each in its own
 * shuffled order. Its state is a generator state and a position, so a
 * resumed search draws the batches it would have drawn.
 */
export class EtaBatches {
  private order: Int32Array;
  private passStart: [number, number, number, number];
  private position = 0;

  constructor(
    private readonly count: number,
    private rng: Rng,
  ) {
    this.passStart = rng.state();
    this.order = shuffled(count, rng);
  }

  next(batchSize: number): Int32Array {
    const size = Math.min(batchSize, this.count);
    if (this.position + size > this.count) {
      this.passStart = this.rng.state();
      this.order = shuffled(this.count, this.rng);
      this.position = 0;
    }
    const batch = this.order.slice(this.position, this.position + size);
    this.position += size;
    return batch;
  }

  state(): EtaOrderState {
    return { rng: this.passStart, position: this.position };
  }

  restore(state: EtaOrderState): void {
    if (state.position < 0 || state.position > this.count) throw new Error(`the η batches' position ${state.position} is outside 0…${this.count}`);
    this.rng = new Rng(state.rng);
    this.order = shuffled(this.count, this.rng);
    this.passStart = state.rng;
    this.position = state.position;
  }
}
