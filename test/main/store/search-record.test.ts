import { describe, expect, it } from 'vitest';
import { decodeJson } from '../../../shared/decode.js';
import { searchRecord } from '../../../main/store/codecs.js';
import { paperSearchConfig } from '../../helpers/configs.js';

const oldConfig = paperSearchConfig(
  { arch: 'resnet18', stem: 'cifar', inputSize: 12, channels: 1, classes: 3, width: 0.25, compressFirstStage: false },
  { space: [1, 2, 4], epochs: 1, archLr: 0.01 },
);
const cost = { full: { params: 1000, macs: 50_000 }, small: { params: 300, macs: 20_000 } };

describe('a search record in the history', () => {
  it('written before budgets (no argmax, projection, warnings or epochs) reads back as it was', () => {
    const old = { config: oldConfig, thenTrain: 5, result: { alphas: { 's2.out': 2 }, cost } };
    expect(decodeJson(JSON.stringify(old), searchRecord, 'runs.search')).toEqual(old);
  });

  it('with a budget keeps the argmax, the projection with its moves, the warnings and each epoch’s figures', () => {
    const record = {
      config: { ...oldConfig, budget: { targetMacs: 20_000, tolerance: 0.02, weight: 2 }, tauSchedule: 'progress', tauRange: { start: 5, end: 0.2 } },
      thenTrain: null,
      result: {
        alphas: { 's2.out': 2 },
        cost,
        argmax: { alphas: { 's2.out': 1 }, cost: { params: 500, macs: 30_000 } },
        projection: { target: 20_000, tolerance: 0.02, withinBand: true, moves: [{ group: 's2.out', from: 1, to: 2, macs: 20_000, kl: 0.12 }] },
        warnings: ['the width distributions of 1 of 1 groups are still flat'],
      },
      epochs: [{ epoch: 1, tau: 0.2, expectedMacs: 21_000, target: 20_000, penalty: 0.06 }],
    };
    expect(decodeJson(JSON.stringify(record), searchRecord, 'runs.search')).toEqual(record);
    // Damaged figures are refused with where they were.
    const bad = { ...record, result: { ...record.result, projection: { ...record.result.projection, moves: [{ group: 's2.out', from: 'wide' }] } } };
    expect(() => decodeJson(JSON.stringify(bad), searchRecord, 'runs.search')).toThrow(/moves\[0\]/);
  });
});
