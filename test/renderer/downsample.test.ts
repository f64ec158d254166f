import { describe, expect, it } from 'vitest';
import { lttb, thin } from '../../renderer/src/lib/downsample.js';

const line = (n: number): Array<{ x: number; y: number }> => Array.from({ length: n }, (_, i) => ({ x: i, y: i }));

describe('thin', () => {
  it('keeps a short series as it is', () => {
    expect(thin([1, 2, 3], 5)).toEqual([1, 2, 3]);
  });
  it('halves until it fits, keeping the first and the last point', () => {
    const out = thin(
      Array.from({ length: 101 }, (_, i) => i),
      30,
    );
    expect(out.length).toBeLessThanOrEqual(30);
    expect(out[0]).toBe(0);
    expect(out.at(-1)).toBe(100);
    for (let i = 1; i < out.length; i++) expect(out[i]!).toBeGreaterThan(out[i - 1]!);
  });
  it('refuses a bound too small to keep both ends', () => {
    expect(() => thin([1, 2, 3], 1)).toThrow(/at least 2/);
  });
});

describe('lttb', () => {
  it('returns the series when it is already short enough', () => {
    expect(lttb(line(10), 20)).toHaveLength(10);
  });
  it('reduces to the threshold and keeps both ends', () => {
    const out = lttb(line(1000), 50);
    expect(out).toHaveLength(50);
    expect(out[0]).toEqual({ x: 0, y: 0 });
    expect(out.at(-1)).toEqual({ x: 999, y: 999 });
  });
  it('keeps a lone spike a plain stride would drop', () => {
    const points = line(1000).map((p) => ({ x: p.x, y: p.x === 503 ? 50 : 1 }));
    const out = lttb(points, 40);
    expect(out.some((p) => p.y === 50)).toBe(true);
    // A stride of 25 from 0 would have missed step 503.
    expect(points.filter((_, i) => i % 25 === 0).some((p) => p.y === 50)).toBe(false);
  });
  it('keeps x in ascending order', () => {
    const out = lttb(
      line(500).map((p) => ({ x: p.x, y: Math.sin(p.x / 10) })),
      60,
    );
    for (let i = 1; i < out.length; i++) expect(out[i]!.x).toBeGreaterThan(out[i - 1]!.x);
  });
});
