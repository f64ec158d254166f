import { describe, expect, it } from 'vitest';
import { scatterPoints } from '../../renderer/src/lib/history-points.js';
import { alphaLabel, canResume, modeAndAlpha, modeLabel } from '../../renderer/src/lib/run-labels.js';
import { run } from './fixtures.js';

describe('scatterPoints', () => {
  it('one point per finished small model, with its interval and the front marked', () => {
    const runs = [
      run({ id: 1, cost: { full: { params: 1, macs: 10 }, small: { params: 1, macs: 4 } }, val: { full: null, small: { accuracy: 0.8, loss: 1 } } }),
      run({ id: 2, cost: { full: { params: 1, macs: 10 }, small: { params: 1, macs: 2 } }, val: { full: null, small: { accuracy: 0.7, loss: 1 } } }),
      run({ id: 3, cost: { full: { params: 1, macs: 10 }, small: { params: 1, macs: 5 } }, val: { full: null, small: { accuracy: 0.6, loss: 1 } } }),
      run({ id: 4, status: 'cancelled' }),
      run({ id: 5, cost: { full: { params: 1, macs: 10 }, small: null }, val: { full: { accuracy: 0.9, loss: 1 }, small: null } }),
    ];
    const points = scatterPoints(runs);
    expect(points.map((p) => [p.id, p.onFront])).toEqual([
      [1, true],
      [2, true],
      [3, false],
    ]);
    const p1 = points[0]!;
    expect(p1.lo).toBeLessThan(0.8);
    expect(p1.hi).toBeGreaterThan(0.8);
    expect(p1.label).toBe('#1');
  });
});

describe('run labels', () => {
  it('mode and α as the History table shows them', () => {
    expect(modeLabel(run())).toBe('AN');
    expect(alphaLabel(run())).toBe('4');
    expect(modeLabel(run({ config: { ...run().config, mode: 'standard', alpha: null } }))).toBe('Standard');
    expect(alphaLabel(run({ config: { ...run().config, mode: 'standard', alpha: null } }))).toBe('—');
    const search = run({ kind: 'search', search: { config: { space: [1, 2, 4] } as never, thenTrain: 5, result: null } });
    expect(modeLabel(search)).toBe('DAN');
    expect(alphaLabel(search)).toBe('search 1/2/4');
    expect(modeAndAlpha(run())).toBe('AN α 4');
    expect(modeAndAlpha(search)).toBe('DAN search 1/2/4');
    expect(modeAndAlpha(run({ config: { ...run().config, mode: 'standard', alpha: null } }))).toBe('Standard');
  });
  it('interrupted runs resume; cancelled and failed ones only with a checkpoint', () => {
    expect(canResume(run({ status: 'interrupted', checkpointPath: null }))).toBe(true);
    expect(canResume(run({ status: 'cancelled' }))).toBe(true);
    expect(canResume(run({ status: 'cancelled', checkpointPath: null }))).toBe(false);
    expect(canResume(run({ status: 'finished' }))).toBe(false);
  });
});
