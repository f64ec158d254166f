import { describe, expect, it } from 'vitest';
import type { SweepSummary } from '../../shared/api.js';
import { type CellResult, expandGrid, summarize, type SweepCell, type SweepSpec, type SweepView } from '../../shared/sweep.js';
import { DEFAULT_KD, DEFAULT_LOSS, recipe } from '../../shared/train-config.js';
import {
  applyCellProgress,
  baseName,
  canCancel,
  canResume,
  cellLabel,
  countsLabel,
  formatAccuracy,
  formatSeconds,
  gridLabel,
  networkLabel,
  progressLabel,
  statsRows,
  sweepProgress,
  sweepScatterPoints,
  sweepsHint,
} from '../../renderer/src/lib/sweep-view.js';

const spec: SweepSpec = {
  data: { path: '/data/fashion-mnist', settings: { size: 28, channels: 1 }, limitTrain: 200, limitVal: null },
  model: { arch: 'resnet18', stem: 'cifar', inputSize: 28, channels: 1, classes: 10, width: 0.125, compressFirstStage: false },
  modes: ['standard', 'small'],
  alphas: [2],
  seeds: [0, 1],
  epochs: 1,
  batchSize: 64,
  ...recipe('cifar'),
  loss: DEFAULT_LOSS,
  smallCes: [0],
  kd: { ...DEFAULT_KD },
  checkpointEvery: 1,
};
const cells = expandGrid(spec);
const cell = (key: string): SweepCell => cells.find((c) => c.key === key)!;

const FULL = { params: 176_000, macs: 7_000_000 };
const SMALL = { params: 45_000, macs: 1_900_000 };
function result(key: string, runId: number, accuracy: number, seconds: number): CellResult {
  const c = cell(key);
  const standard = c.mode === 'standard';
  return {
    cell: c,
    runId,
    full: standard ? accuracy : null,
    small: standard ? null : accuracy,
    fullCost: standard ? FULL : null,
    smallCost: standard ? null : SMALL,
    seconds,
  };
}

function view(over: Partial<SweepView> = {}): SweepView {
  return {
    sweepId: 3,
    status: 'running',
    queue: null,
    createdAt: 1000,
    finishedAt: null,
    spec,
    cells: cells.map((c) => ({ cell: c, runId: null, state: 'queued', error: null })),
    results: [],
    stats: [],
    ...over,
  };
}

describe('live cell states', () => {
  it('a sweep:progress replaces its cell at once and leaves the rest', () => {
    const v = view();
    const next = applyCellProgress(v, { sweepId: 3, cell: cell('small-a2-s0'), runId: 12, state: 'running', error: null });
    expect(next.cells.find((c) => c.cell.key === 'small-a2-s0')).toMatchObject({ runId: 12, state: 'running' });
    expect(next.cells.filter((c) => c.state === 'queued')).toHaveLength(3);
    // The view given is not changed (it is state.raw in the screen).
    expect(v.cells.every((c) => c.state === 'queued')).toBe(true);
  });
  it('another sweep’s event, or an unknown cell, changes nothing', () => {
    const v = view();
    expect(applyCellProgress(v, { sweepId: 4, cell: cell('small-a2-s0'), runId: 1, state: 'running', error: null })).toBe(v);
    expect(applyCellProgress(v, { sweepId: 3, cell: { ...cell('small-a2-s0'), key: 'an-a8-s0' }, runId: 1, state: 'running', error: null })).toBe(v);
  });
});

describe('progress', () => {
  it('counts finished runs and the cells in each state', () => {
    const p = sweepProgress([{ state: 'finished' }, { state: 'running' }, { state: 'waiting' }, { state: 'finished' }, { state: 'blocked' }]);
    expect(p).toMatchObject({ total: 5, finished: 2 });
    expect(progressLabel(p)).toBe('2 of 5 runs finished');
    expect(countsLabel(p)).toBe('2 finished · 1 running · 1 waiting · 1 blocked');
    expect(progressLabel(sweepProgress([{ state: 'queued' }]))).toBe('0 of 1 run finished');
  });
  it('names a cell by its configuration and seed', () => {
    expect(cellLabel(cell('standard-s1'))).toBe('standard · seed 1');
    expect(cellLabel(cell('small-a2-s0'))).toBe('small α=2 · seed 0');
  });
});

describe('the statistics table', () => {
  const stats = summarize([result('standard-s0', 1, 0.8, 30), result('standard-s1', 3, 0.84, 34), result('small-a2-s0', 2, 0.7, 20)]);
  it('a row per configuration: mean ± s.d. over its seeds, the small network’s cost, time per run', () => {
    expect(statsRows(stats)).toEqual([
      {
        key: 'standard',
        configuration: 'standard',
        seeds: '2 (0, 1)',
        full: '82.00 ± 2.83%',
        small: '—',
        smallParams: '—',
        smallMacs: '—',
        time: '32 s ± 3 s',
      },
      { key: 'small-a2', configuration: 'small α=2', seeds: '1 (0)', full: '—', small: '70.00%', smallParams: '45k', smallMacs: '1.9 MMACs', time: '20 s' },
    ]);
  });
  it('formats a mean without a deviation (one seed) and nothing at all', () => {
    expect(formatAccuracy(null)).toBe('—');
    expect(formatAccuracy({ mean: 0.5, std: null, n: 1 })).toBe('50.00%');
    expect(formatSeconds({ mean: 185, std: 12, n: 2 })).toBe('3 m 05 s ± 12 s');
    expect(formatSeconds(null)).toBe('—');
  });
  it('the plot: what each configuration ships, bars of ± 1 s.d., the Pareto front of the means', () => {
    const points = sweepScatterPoints(stats);
    expect(points).toHaveLength(2);
    const standard = points.find((p) => p.label === 'standard')!;
    const small = points.find((p) => p.label === 'small α=2')!;
    expect(standard).toMatchObject({ x: FULL.macs, onFront: true });
    expect(standard.y).toBeCloseTo(0.82, 12);
    expect(standard.lo).toBeCloseTo(0.82 - 0.0283, 3);
    expect(standard.hi).toBeCloseTo(0.82 + 0.0283, 3);
    expect(small).toMatchObject({ x: SMALL.macs, y: 0.7, lo: 0.7, hi: 0.7, onFront: true });
    expect(new Set(points.map((p) => p.id)).size).toBe(2);
  });
  it('a cheaper network that is also more accurate pushes the other off the front; bars stay in [0, 1]', () => {
    const points = sweepScatterPoints(summarize([result('standard-s0', 1, 0.5, 1), result('small-a2-s0', 2, 0.99, 1), result('small-a2-s1', 4, 0.6, 1)]));
    expect(points.find((p) => p.label === 'standard')!.onFront).toBe(false);
    const small = points.find((p) => p.label === 'small α=2')!;
    expect(small.onFront).toBe(true);
    expect(small.hi).toBeLessThanOrEqual(1);
  });
});

describe('labels and actions', () => {
  it('the grid, the network and the data in a line', () => {
    expect(gridLabel(spec)).toBe('standard, small · α 2 · 2 seeds · 1 epoch');
    expect(gridLabel({ ...spec, modes: ['standard'], seeds: [4], epochs: 3 })).toBe('standard · seed 4 · 3 epochs');
    expect(gridLabel({ ...spec, modes: ['an'], smallCes: [0, 1] })).toBe('an · α 2 · β 0, 1 · 2 seeds · 1 epoch');
    expect(networkLabel(spec)).toBe('ResNet-18 ×0.125');
    expect(baseName('/data/fashion-mnist/')).toBe('fashion-mnist');
    expect(baseName('C:\\data\\cifar')).toBe('cifar');
    expect(baseName('synthetic:classes=4')).toBe('synthetic:classes=4');
  });
  it('cancel while running; resume when cancelled or interrupted, never when finished or failed', () => {
    expect(canCancel('running')).toBe(true);
    expect(canCancel('cancelled')).toBe(false);
    expect(canResume('cancelled')).toBe(true);
    expect(canResume('interrupted')).toBe(true);
    expect(canResume('finished')).toBe(false);
    expect(canResume('failed')).toBe(false);
    expect(canResume('running')).toBe(false);
  });
  it('the navigation shows the running sweep’s progress, else how many there are', () => {
    const summary = (sweepId: number, status: SweepSummary['status'], finishedRuns: number): SweepSummary => ({
      sweepId,
      status,
      queue: null,
      createdAt: 0,
      finishedAt: null,
      spec,
      runs: 4,
      finishedRuns,
    });
    expect(sweepsHint([], false)).toBe('');
    expect(sweepsHint([], true)).toBe('0 sweeps');
    expect(sweepsHint([summary(2, 'finished', 4), summary(1, 'cancelled', 1)], true)).toBe('2 sweeps');
    expect(sweepsHint([summary(3, 'running', 1), summary(2, 'finished', 4)], true)).toBe('#3 · 1/4 runs');
  });
});
