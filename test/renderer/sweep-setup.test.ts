import { describe, expect, it } from 'vitest';
import { InputError } from '../../shared/errors.js';
import { costReport } from '../../shared/model/cost.js';
import { buildGraph } from '../../shared/model/graph.js';
import { expandGrid, validateSweepSpec } from '../../shared/sweep.js';
import {
  betaChoices,
  defaultSweepDraft,
  runCount,
  runsLabel,
  seedsOf,
  shippedEstimates,
  type SweepContext,
  type SweepDraft,
  sweepRequest,
  sweepSpecOf,
  toggled,
} from '../../renderer/src/lib/sweep-setup.js';
import { applyPreset, DEFAULT_MODEL_SETTINGS, dataSourceOf, defaultTrainSettings, trainConfigOf } from '../../renderer/src/lib/wizard-config.js';

const model = { ...DEFAULT_MODEL_SETTINGS, inputSize: 28, channels: 1 as const, width: 0.125 };
const train = { ...defaultTrainSettings(), epochs: 4, batchSize: 32 };
const ctx: SweepContext = { source: '/data/fm', model, train, classes: 10 };
const graph = buildGraph({ arch: 'resnet18', stem: 'cifar', inputSize: 28, channels: 1, classes: 10, width: 0.125, compressFirstStage: false });

function draft(over: Partial<SweepDraft> = {}): SweepDraft {
  return { ...defaultSweepDraft(train), ...over };
}

/** The field an InputError names, or what was thrown instead. */
function fieldOf(f: () => unknown): string {
  try {
    f();
  } catch (error) {
    if (error instanceof InputError) return error.field;
    throw error;
  }
  throw new Error('expected an InputError');
}

describe('the dialog’s defaults', () => {
  it('standard, small and an at α 2 and 4 over three seeds: 15 runs, the length from the Train screen', () => {
    const d = defaultSweepDraft(train);
    expect(d).toMatchObject({ modes: ['standard', 'small', 'an'], alphas: [2, 4], seedsAs: 'count', seedCount: 3, epochs: 4, smallCes: [1], limitTrain: null });
    expect(runCount(d, ctx)).toEqual({
      total: 15,
      byMode: [
        { mode: 'standard', runs: 3 },
        { mode: 'small', runs: 6 },
        { mode: 'an', runs: 6 },
      ],
    });
    expect(runsLabel(15)).toBe('15 runs');
    expect(runsLabel(1)).toBe('1 run');
  });
  it('β starts at the Train screen’s (the paper preset’s 0), and 0 and 1 are always offered', () => {
    const paper = applyPreset(train, 'paper-cifar');
    expect(defaultSweepDraft(paper).smallCes).toEqual([0]);
    expect(betaChoices(train)).toEqual([0, 1]);
    expect(betaChoices({ ...train, smallCe: 0.5 })).toEqual([0, 0.5, 1]);
    // A β chosen while the Train screen had it stays on offer after it changed.
    expect(betaChoices(train, [0.5])).toEqual([0, 0.5, 1]);
  });
});

describe('seeds', () => {
  it('a count n is seeds 0 … n − 1; a list is read as typed', () => {
    expect(seedsOf({ seedsAs: 'count', seedCount: 3, seedList: '' })).toEqual([0, 1, 2]);
    expect(seedsOf({ seedsAs: 'list', seedCount: null, seedList: ' 0, 4 7;9 ' })).toEqual([0, 4, 7, 9]);
  });
  it('an empty, fractional or negative entry is named', () => {
    expect(() => seedsOf({ seedsAs: 'count', seedCount: null, seedList: '' })).toThrow(/number of seeds/);
    expect(() => seedsOf({ seedsAs: 'count', seedCount: 1.5, seedList: '' })).toThrow(/got 1.5/);
    expect(() => seedsOf({ seedsAs: 'list', seedCount: 3, seedList: ' , ' })).toThrow(/at least one seed/);
    expect(() => seedsOf({ seedsAs: 'list', seedCount: 3, seedList: '0, -1' })).toThrow(/got '-1'/);
    expect(() => seedsOf({ seedsAs: 'list', seedCount: 3, seedList: '0, 1e3' })).toThrow(/got '1e3'/);
    expect(fieldOf(() => seedsOf({ seedsAs: 'list', seedCount: 3, seedList: 'x' }))).toBe('seeds');
  });
});

describe('the sweeps:start request', () => {
  it('is a spec the main side accepts, trained as a standard run of the wizard’s settings would be', () => {
    const spec = sweepRequest(draft({ limitTrain: 200 }), ctx);
    expect(() => validateSweepSpec(spec)).not.toThrow();
    const single = trainConfigOf({ ...model, mode: 'standard' }, train, 10);
    expect(spec).toMatchObject({
      model: single.model,
      batchSize: 32,
      epochs: 4,
      optimizer: single.optimizer,
      schedule: single.schedule,
      augmentation: single.augmentation,
      loss: single.loss,
      checkpointEvery: single.checkpointEvery,
      modes: ['standard', 'small', 'an'],
      alphas: [2, 4],
      seeds: [0, 1, 2],
      smallCes: [1],
      kd: { temperature: 4, weight: 0.9 },
    });
    expect(spec.data).toEqual(dataSourceOf('/data/fm', model, { ...train, limitTrain: 200 }));
  });
  it('takes the network from the Model screen whatever its mode (a DAN setting does not leak in)', () => {
    const spec = sweepRequest(draft(), { ...ctx, model: { ...model, mode: 'dan', space: [2, 8] } });
    expect(spec.model).toEqual(trainConfigOf({ ...model, mode: 'standard' }, train, 10).model);
  });
  it('lists the modes in one order, however they were ticked', () => {
    const d = draft({ modes: toggled(toggled(['an'], 'kd', true, ['standard', 'small', 'kd', 'an']), 'standard', true, ['standard', 'small', 'kd', 'an']) });
    expect(d.modes).toEqual(['standard', 'kd', 'an']);
    expect(sweepRequest(d, ctx).modes).toEqual(['standard', 'kd', 'an']);
    expect(toggled([2, 4, 8], 4, false, [2, 4, 8, 16])).toEqual([2, 8]);
  });
  it('names the field at fault before anything is sent', () => {
    expect(fieldOf(() => sweepRequest(draft({ modes: ['kd'] }), ctx))).toBe('modes');
    expect(() => sweepRequest(draft({ modes: ['small', 'kd'] }), ctx)).toThrow(/add standard/);
    expect(fieldOf(() => sweepRequest(draft({ modes: [] }), ctx))).toBe('modes');
    expect(fieldOf(() => sweepRequest(draft({ alphas: [] }), ctx))).toBe('alpha');
    expect(fieldOf(() => sweepRequest(draft({ smallCes: [] }), ctx))).toBe('smallCe');
    expect(fieldOf(() => sweepRequest(draft({ seedsAs: 'list', seedList: '1, 1' }), ctx))).toBe('seeds');
    expect(fieldOf(() => sweepRequest(draft({ epochs: null }), ctx))).toBe('epochs');
    expect(fieldOf(() => sweepRequest(draft({ epochs: 0 }), ctx))).toBe('epochs');
    expect(fieldOf(() => sweepRequest(draft({ limitTrain: 0 }), ctx))).toBe('limitTrain');
    expect(fieldOf(() => sweepRequest(draft(), { ...ctx, train: { ...train, batchSize: 0 } }))).toBe('batch');
  });
  it('a grid of standard alone needs no α, and an has no β to choose without an', () => {
    expect(() => sweepRequest(draft({ modes: ['standard'], alphas: [] }), ctx)).not.toThrow();
    expect(() => sweepRequest(draft({ modes: ['standard', 'small'], smallCes: [] }), ctx)).not.toThrow();
  });
});

describe('the run count', () => {
  it('is the grid the main side expands', () => {
    const d = draft({ modes: ['standard', 'small', 'kd', 'an'], alphas: [2, 8, 16], seedsAs: 'list', seedList: '3, 5', smallCes: [0, 1] });
    const count = runCount(d, ctx);
    expect(count?.total).toBe(expandGrid(sweepSpecOf(d, ctx)).length);
    // Per seed: 1 standard + 3 α × (small + kd + 2 an).
    expect(count?.total).toBe(2 * (1 + 3 * 4));
    expect(count?.byMode).toEqual([
      { mode: 'standard', runs: 2 },
      { mode: 'small', runs: 6 },
      { mode: 'kd', runs: 6 },
      { mode: 'an', runs: 12 },
    ]);
  });
  it('the issue’s tiny grid is two runs; seeds that cannot be read give no count', () => {
    expect(runCount(draft({ modes: ['standard', 'small'], alphas: [2], seedCount: 1 }), ctx)?.total).toBe(2);
    expect(runCount(draft({ seedsAs: 'list', seedList: 'a' }), ctx)).toBeNull();
    // The count does not wait for the epochs.
    expect(runCount(draft({ epochs: null }), ctx)?.total).toBe(15);
  });
});

describe('what each configuration ships', () => {
  it('the standard run its full network, every other mode at an α the small network of that α', () => {
    const rows = shippedEstimates({ modes: ['standard', 'small', 'kd'], alphas: [4, 2] }, model, 10);
    expect(rows.map((r) => [r.label, r.network, r.modes])).toEqual([
      ['standard', 'full', ['standard']],
      ['α = 2', 'small', ['small', 'kd']],
      ['α = 4', 'small', ['small', 'kd']],
    ]);
    expect(rows[0]!.result).toEqual({ ok: true, cost: costReport(graph).full, full: costReport(graph).full });
    expect(rows[1]!.result).toEqual({ ok: true, cost: costReport(graph, 2).small, full: costReport(graph).full });
  });
  it('no α row without a mode that has an α; a network too narrow for α says why', () => {
    expect(shippedEstimates({ modes: ['standard'], alphas: [2] }, model, 10).map((r) => r.key)).toEqual(['standard']);
    const [row] = shippedEstimates({ modes: ['an'], alphas: [16] }, { ...model, width: 0.01 }, 10);
    expect(row?.result.ok).toBe(false);
  });
});
