import { describe, expect, it } from 'vitest';
import { pairedCpuRatio, sideBySide, type SideBySide } from './measure.js';

describe('side-by-side timing', () => {
  it('takes the ratio round by round, so a slow phase that hits both variants of a round cancels out', () => {
    const s: SideBySide = {
      wall: {},
      rounds: {
        // Round 2 ran on a loaded machine: both variants took three times as long.
        a: [
          { wall: 0, cpu: 12 },
          { wall: 0, cpu: 36 },
          { wall: 0, cpu: 13 },
        ],
        b: [
          { wall: 0, cpu: 10 },
          { wall: 0, cpu: 30 },
          { wall: 0, cpu: 10 },
        ],
      },
    };
    // Ratios 1.2, 1.2, 1.3: their median, where the ratio of the medians (13 / 10) is not.
    expect(pairedCpuRatio(s, 'a', 'b')).toBeCloseTo(1.2, 10);
    expect(() => pairedCpuRatio(s, 'a', 'c')).toThrow(/no variant c/);
  });

  it('runs every variant once per round, after the warm-up, and keeps each round', async () => {
    const calls: string[] = [];
    const s = await sideBySide({ x: () => void calls.push('x'), y: () => void calls.push('y') }, { warmup: 1, rounds: 3 });
    expect(calls).toEqual(['x', 'y', 'x', 'y', 'x', 'y', 'x', 'y']);
    expect(s.rounds['x']).toHaveLength(3);
    expect(Object.keys(s.wall)).toEqual(['x', 'y']);
  });
});
