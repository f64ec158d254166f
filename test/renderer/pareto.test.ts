import { describe, expect, it } from 'vitest';
import { accuracyInterval, paretoFront } from '../../renderer/src/lib/pareto.js';

describe('paretoFront', () => {
  it('keeps the models no other beats on both cost and accuracy, cheapest first', () => {
    const points = [
      { cost: 10, quality: 0.9 }, // 0: front (most accurate)
      { cost: 5, quality: 0.85 }, // 1: front
      { cost: 6, quality: 0.8 }, // 2: dominated by 1
      { cost: 1, quality: 0.6 }, // 3: front (cheapest)
      { cost: 12, quality: 0.88 }, // 4: dominated by 0
    ];
    expect(paretoFront(points)).toEqual([3, 1, 0]);
  });
  it('of two equal models keeps one', () => {
    expect(
      paretoFront([
        { cost: 2, quality: 0.5 },
        { cost: 2, quality: 0.5 },
      ]),
    ).toHaveLength(1);
  });
  it('at equal cost keeps the more accurate', () => {
    expect(
      paretoFront([
        { cost: 2, quality: 0.4 },
        { cost: 2, quality: 0.6 },
      ]),
    ).toEqual([1]);
  });
  it('ignores points without figures', () => {
    expect(
      paretoFront([
        { cost: Number.NaN, quality: 1 },
        { cost: 1, quality: 0.2 },
      ]),
    ).toEqual([1]);
    expect(paretoFront([])).toEqual([]);
  });
});

describe('accuracyInterval (Wilson, 95%)', () => {
  it('matches a hand-computed interval', () => {
    // p = 0.8, n = 100: centre 0.7906, half-width 0.0781 (Wilson score interval).
    const { lo, hi } = accuracyInterval(0.8, 100);
    expect(lo).toBeCloseTo(0.7112, 3);
    expect(hi).toBeCloseTo(0.8666, 3);
  });
  it('stays inside [0, 1] at the extremes and narrows with more images', () => {
    const all = accuracyInterval(1, 20);
    expect(all.hi).toBe(1);
    expect(all.lo).toBeGreaterThan(0.8);
    const small = accuracyInterval(0.5, 50);
    const big = accuracyInterval(0.5, 5000);
    expect(big.hi - big.lo).toBeLessThan(small.hi - small.lo);
  });
  it('without a sample size it is a point', () => {
    expect(accuracyInterval(0.7, 0)).toEqual({ lo: 0.7, hi: 0.7 });
  });
});
