import { describe, expect, it } from 'vitest';
import { extent, linePath, linearScale, logDomain, logScale, niceDomain, niceStep, sampleCurve, tickLabel } from '../../renderer/src/lib/charts/scale.js';

describe('scales', () => {
  it('linear maps the domain onto the range (inverted y included)', () => {
    const s = linearScale([0, 10], [100, 0]);
    expect(s(0)).toBe(100);
    expect(s(5)).toBe(50);
    expect(s(10)).toBe(0);
    expect(linearScale([3, 3], [0, 10])(3)).toBe(5);
  });
  it('log maps decades to equal distances', () => {
    const s = logScale([1e6, 1e8], [0, 200]);
    expect(s(1e6)).toBeCloseTo(0, 9);
    expect(s(1e7)).toBeCloseTo(100, 9);
    expect(s(1e8)).toBeCloseTo(200, 9);
  });
});

describe('ticks', () => {
  it('steps of 1, 2 or 5 × 10^k', () => {
    expect(niceStep(10, 5)).toBe(2);
    expect(niceStep(1, 5)).toBe(0.2);
    expect(niceStep(0.07, 5)).toBe(0.01);
    expect(niceStep(700, 5)).toBe(100);
  });
  it('a nice domain covers the data with whole steps', () => {
    expect(niceDomain(0.13, 0.87, 5)).toEqual({ domain: [0, 1], ticks: [0, 0.2, 0.4, 0.6, 0.8, 1] });
    expect(niceDomain(1, 13, 6).ticks).toEqual([0, 2, 4, 6, 8, 10, 12, 14]);
    const flat = niceDomain(0.05, 0.05);
    expect(flat.domain[0]).toBeLessThan(0.05);
    expect(flat.domain[1]).toBeGreaterThan(0.05);
  });
  it('log domains tick at powers of ten, with 2 and 5 when few decades', () => {
    expect(logDomain(1.5e6, 8e6)).toEqual({ domain: [1e6, 1e7], ticks: [1e6, 2e6, 5e6, 1e7] });
    expect(logDomain(2e3, 5e8).ticks).toEqual([1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9]);
  });
  it('labels read short', () => {
    expect(tickLabel(0)).toBe('0');
    expect(tickLabel(2_500_000)).toBe('2.5M');
    expect(tickLabel(20_000)).toBe('20k');
    expect(tickLabel(0.0005)).toBe('5e-4');
    expect(tickLabel(0.25)).toBe('0.25');
  });
});

describe('paths and samples', () => {
  it('extent skips non-finite values', () => {
    expect(extent([3, Number.NaN, -1, Infinity, 2])).toEqual([-1, 3]);
    expect(extent([])).toBeNull();
  });
  it('a line breaks where a value is missing', () => {
    const id = (v: number): number => v;
    expect(
      linePath(
        [
          { x: 0, y: 0 },
          { x: 1, y: 1 },
          { x: 2, y: Number.NaN },
          { x: 3, y: 3 },
        ],
        id,
        id,
      ),
    ).toBe('M0.0,0.0L1.0,1.0M3.0,3.0');
  });
  it('samples a function on [0, 1]', () => {
    const pts = sampleCurve((t) => t * t, 4);
    expect(pts.map((p) => p.x)).toEqual([0, 0.25, 0.5, 0.75, 1]);
    expect(pts[2]!.y).toBe(0.25);
  });
});
