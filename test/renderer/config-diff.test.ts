import { describe, expect, it } from 'vitest';
import { comparableRun, diffConfigs, flatten } from '../../renderer/src/lib/config-diff.js';
import { CONFIG, run } from './fixtures.js';

describe('flatten', () => {
  it('names nested leaves by dotted paths and arrays by index', () => {
    const f = flatten({ model: { arch: 'resnet18', width: 0.25 }, schedule: { milestones: [0.5, 0.75] }, alpha: null });
    expect([...f.entries()]).toEqual([
      ['model.arch', 'resnet18'],
      ['model.width', 0.25],
      ['schedule.milestones[0]', 0.5],
      ['schedule.milestones[1]', 0.75],
      ['alpha', null],
    ]);
  });
  it('keeps empty containers visible', () => {
    expect(flatten({ a: [], b: {} }).get('a')).toBe('[]');
    expect(flatten({ a: [], b: {} }).get('b')).toBe('{}');
  });
});

describe('diffConfigs', () => {
  it('marks equal and different settings, and settings only one side has', () => {
    const rows = diffConfigs({ epochs: 10, alpha: 4, loss: { smallCe: 1 } }, { epochs: 10, alpha: 8, loss: { smallCe: 1 }, kd: { weight: 0.9 } });
    expect(rows).toEqual([
      { key: 'epochs', a: 10, b: 10, same: true },
      { key: 'alpha', a: 4, b: 8, same: false },
      { key: 'loss.smallCe', a: 1, b: 1, same: true },
      { key: 'kd.weight', a: undefined, b: 0.9, same: false },
    ]);
  });
  it('tells a global α from a per-group map', () => {
    const rows = diffConfigs({ alpha: 4 }, { alpha: { 'stage2.conv': 4 } });
    expect(rows.filter((r) => !r.same).map((r) => r.key)).toEqual(['alpha', 'alpha.stage2.conv']);
  });
});

describe('comparableRun', () => {
  const an = run({ id: 1 });
  const dan = run({
    id: 2,
    kind: 'search',
    config: { ...CONFIG, alpha: { s2: 2, s3: 8 } },
    search: { config: { space: [1, 2, 4], gamma: 1, epochs: 3, tau: { initial: 15, decay: 0.045 }, noise: 'fresh' } as never, thenTrain: 5, result: null },
  });
  it('summarises a per-group α against a global one, and a search in a few keys', () => {
    const rows = diffConfigs(comparableRun(an, dan), comparableRun(dan, an)).filter((r) => !r.same);
    expect(rows.map((r) => [r.key, r.a, r.b])).toEqual([
      ['kind', 'train', 'search'],
      ['alpha', 4, '2–8 per group'],
      ['search', null, undefined],
      ['search.space', undefined, '1, 2, 4'],
      ['search.gamma', undefined, 1],
      ['search.epochs', undefined, 3],
      ['search.tau', undefined, 15],
      ['search.noise', undefined, 'fresh'],
      ['search.thenTrain', undefined, 5],
    ]);
  });
  it('spells out two per-group maps', () => {
    const rows = diffConfigs(comparableRun(dan, dan), comparableRun({ ...dan, config: { ...CONFIG, alpha: { s2: 4, s3: 8 } } }, dan));
    expect(rows.filter((r) => !r.same).map((r) => r.key)).toEqual(['alpha.s2']);
  });
});
