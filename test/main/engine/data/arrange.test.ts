import { describe, expect, it } from 'vitest';
import { compactRecords, permuteRecords } from '../../../../main/engine/data/arrange.js';
import { Rng } from '../../../../main/engine/rng.js';

function records(n: number, bytes: number): Uint8Array {
  return Uint8Array.from({ length: n * bytes }, (_, i) => Math.floor(i / bytes) * 10 + (i % bytes));
}

describe('permuteRecords', () => {
  it('puts old record order[j] at j, in place', () => {
    const data = records(5, 3);
    permuteRecords(data, 3, [3, 0, 4, 1, 2]);
    expect(Array.from(data)).toEqual([30, 31, 32, 0, 1, 2, 40, 41, 42, 10, 11, 12, 20, 21, 22]);
  });

  it('matches an out-of-place gather for random permutations', () => {
    const rng = new Rng(3);
    for (let trial = 0; trial < 50; trial++) {
      const n = 1 + rng.int(40);
      const order = Array.from({ length: n }, (_, i) => i);
      rng.shuffle(order);
      const data = records(n, 4);
      const expected = order.flatMap((o) => Array.from(data.subarray(o * 4, o * 4 + 4)));
      permuteRecords(data, 4, order);
      expect(Array.from(data)).toEqual(expected);
    }
  });
});

describe('compactRecords', () => {
  it('moves kept records to the front in order', () => {
    const data = records(5, 2);
    expect(compactRecords(data, 2, Uint8Array.from([0, 1, 0, 1, 1]))).toBe(3);
    expect(Array.from(data.subarray(0, 6))).toEqual([10, 11, 30, 31, 40, 41]);
  });
});
