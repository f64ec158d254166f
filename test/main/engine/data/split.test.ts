import { describe, expect, it } from 'vitest';
import { splitDataset, type SplitItem } from '../../../../main/engine/data/split.js';

function items(perClass: number[]): SplitItem[] {
  return perClass.flatMap((n, label) => Array.from({ length: n }, (_, i) => ({ rel: `c${label}/${i}.png`, label, inValFolder: false })));
}

describe('splitDataset', () => {
  it('holds out a stratified share per class and returns every item once', () => {
    const all = items([50, 20, 7, 1]);
    const s = splitDataset(all, 4, { folderSplit: false, fraction: 0.2, seed: 1 });
    expect(s.valCounts).toEqual([10, 4, 1, 0]);
    expect(s.trainCounts).toEqual([40, 16, 6, 1]);
    expect([...s.train, ...s.val].sort((a, b) => a - b)).toEqual(all.map((_, i) => i));
  });

  it('is a function of the seed and the names, not of the input order', () => {
    const all = items([30, 30]);
    const a = splitDataset(all, 2, { folderSplit: false, fraction: 0.3, seed: 5 });
    const reversed = [...all].reverse();
    const b = splitDataset(reversed, 2, { folderSplit: false, fraction: 0.3, seed: 5 });
    expect(b.valFingerprint).toBe(a.valFingerprint);
    expect(new Set(Array.from(b.val, (i) => reversed[i]!.rel))).toEqual(new Set(Array.from(a.val, (i) => all[i]!.rel)));
    expect(splitDataset(all, 2, { folderSplit: false, fraction: 0.3, seed: 6 }).valFingerprint).not.toBe(a.valFingerprint);
  });

  it('interleaves the classes within each split', () => {
    const all = items([100, 100]);
    const s = splitDataset(all, 2, { folderSplit: false, fraction: 0.2, seed: 0 });
    const firstTen = Array.from(s.train.subarray(0, 10), (i) => all[i]!.label);
    expect(new Set(firstTen).size).toBe(2);
  });

  it('follows the folders when the dataset has val/', () => {
    const all = items([4, 4]).map((it, i) => ({ ...it, inValFolder: i % 4 === 0 }));
    const s = splitDataset(all, 2, { folderSplit: true, fraction: 0.5, seed: 0 });
    expect(s.valCounts).toEqual([1, 1]);
    expect(Array.from(s.val).every((i) => all[i]!.inValFolder)).toBe(true);
  });
});
