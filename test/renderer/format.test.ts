import { describe, expect, it } from 'vitest';
import {
  formatAlpha,
  formatBytes,
  formatCount,
  formatDuration,
  formatLoss,
  formatMacs,
  formatMs,
  formatNumber,
  formatPercent,
  formatRate,
  formatRatio,
} from '../../renderer/src/lib/format.js';

describe('format', () => {
  it('counts with SI suffixes, trailing zeros trimmed', () => {
    expect(formatCount(11_689_512)).toBe('11.69M');
    expect(formatCount(910)).toBe('910');
    expect(formatCount(54_380)).toBe('54.38k');
    expect(formatCount(2_000_000)).toBe('2M');
    expect(formatCount(null)).toBe('—');
    expect(formatCount(Number.NaN)).toBe('—');
  });
  it('MACs read as GMACs / MMACs', () => {
    expect(formatMacs(1.81e9)).toBe('1.81 GMACs');
    expect(formatMacs(7_170_000)).toBe('7.17 MMACs');
    expect(formatMacs(512)).toBe('512 MACs');
  });
  it('bytes as kB and MB (powers of ten)', () => {
    expect(formatBytes(999)).toBe('999 B');
    expect(formatBytes(63_900)).toBe('63.9 kB');
    expect(formatBytes(2_800_000)).toBe('2.8 MB');
    expect(formatBytes(46_760_000)).toBe('46.8 MB');
  });
  it('percentages, ratios, milliseconds', () => {
    expect(formatPercent(0.9134)).toBe('91.3%');
    expect(formatPercent(0.5, 0)).toBe('50%');
    expect(formatRatio(3.914)).toBe('3.9×');
    expect(formatRatio(13.2)).toBe('13×');
    expect(formatMs(0.218)).toBe('0.22 ms');
    expect(formatMs(42.25)).toBe('42.3 ms');
    expect(formatMs(420.4)).toBe('420 ms');
  });
  it('durations: seconds, minutes, hours', () => {
    expect(formatDuration(45)).toBe('45 s');
    expect(formatDuration(185)).toBe('3 m 05 s');
    expect(formatDuration(3720)).toBe('1 h 02 m');
    expect(formatDuration(-1)).toBe('—');
  });
  it('numbers as typed: decimals or exponents', () => {
    expect(formatNumber(0.05)).toBe('0.05');
    expect(formatNumber(5e-4)).toBe('5e-4');
    expect(formatNumber(0.00005)).toBe('5e-5');
    expect(formatNumber(1)).toBe('1');
    expect(formatLoss(2.302585)).toBe('2.3026');
    expect(formatRate(1234.5)).toBe('1235 img/s');
    expect(formatRate(12.34, 'files/s')).toBe('12.3 files/s');
  });
  it('α: a global value or the range of a per-group map', () => {
    expect(formatAlpha(4)).toBe('4');
    expect(formatAlpha({ a: 2, b: 8 })).toBe('2–8 per group');
    expect(formatAlpha({ a: 4, b: 4 })).toBe('4');
    expect(formatAlpha(null)).toBe('—');
  });
});
