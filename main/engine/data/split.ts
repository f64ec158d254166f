import { createHash } from 'node:crypto';
import { heldOut } from '../../../shared/dataset.js';

export interface SplitItem {
  /** The image's path relative to the dataset: what fixes its place in the split. */
  rel: string;
  label: number;
  /** For folders with `val/`: where the user put it. */
  inValFolder: boolean;
}

export interface SplitResult {
  /** Indices into the items, training then validation, each in a seeded shuffled order. */
  train: Int32Array;
  val: Int32Array;
  trainCounts: number[];
  valCounts: number[];
  /** sha256 of the validation files' names, sorted: the split's identity. */
  valFingerprint: string;
}

/**
 * A number in [0, 1) drawn for one file from the split seed and its name.
 * Each file gets its own draw, so adding, removing or touching one file
 * never moves the others between splits — the same folder and seed always
 * give the same split, and a slightly changed folder a nearly equal one.
 */
function drawFor(seed: number, rel: string): number {
  return createHash('sha256').update(`${seed}\0${rel}`).digest().readUInt32LE(0) / 2 ** 32;
}

/**
 * Stratified train/validation split. With `folderSplit`, the folders decide;
 * otherwise each class holds out `heldOut(n, fraction)` of its images —
 * those with the smallest draws. Both splits come back in draw order, so
 * the first N of a split (`--limit-train`) are a fair sample of the classes.
 */
export function splitDataset(items: readonly SplitItem[], classCount: number, plan: { folderSplit: boolean; fraction: number; seed: number }): SplitResult {
  const draws = items.map((it) => drawFor(plan.seed, it.rel));
  const order = items.map((_, i) => i).sort((a, b) => draws[a]! - draws[b]! || (items[a]!.rel < items[b]!.rel ? -1 : 1));
  const isVal = new Uint8Array(items.length);
  if (plan.folderSplit) {
    items.forEach((it, i) => (isVal[i] = it.inValFolder ? 1 : 0));
  } else {
    const perClass = new Array<number>(classCount).fill(0);
    for (const it of items) perClass[it.label]!++;
    const quota = perClass.map((n) => heldOut(n, plan.fraction));
    for (const i of order) {
      const label = items[i]!.label;
      if (quota[label]! > 0) {
        isVal[i] = 1;
        quota[label]!--;
      }
    }
  }
  const train: number[] = [];
  const val: number[] = [];
  const trainCounts = new Array<number>(classCount).fill(0);
  const valCounts = new Array<number>(classCount).fill(0);
  for (const i of order) {
    if (isVal[i] === 1) {
      val.push(i);
      valCounts[items[i]!.label]!++;
    } else {
      train.push(i);
      trainCounts[items[i]!.label]!++;
    }
  }
  const valNames = val.map((i) => items[i]!.rel).sort();
  const valFingerprint = createHash('sha256').update(valNames.join('\0')).digest('hex').slice(0, 16);
  return { train: Int32Array.from(train), val: Int32Array.from(val), trainCounts, valCounts, valFingerprint };
}
