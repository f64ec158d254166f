import { describe, expect, it } from 'vitest';
import { validateSearchConfig } from '../../shared/dan.js';
import { costReport } from '../../shared/model/cost.js';
import { buildGraph } from '../../shared/model/graph.js';
import { feasibleMacs } from '../../shared/search-budget.js';
import { validateTrainConfig } from '../../shared/train-config.js';
import {
  applyPreset,
  danBudget,
  DEFAULT_MODEL_SETTINGS,
  dataSourceOf,
  defaultTrainSettings,
  estimate,
  lrPreview,
  modelConfigOf,
  scheduleLabel,
  searchConfigOf,
  trainConfigOf,
  weightBytes,
  withBatchSize,
} from '../../renderer/src/lib/wizard-config.js';

const model = { ...DEFAULT_MODEL_SETTINGS, inputSize: 28, channels: 1 as const, width: 0.125 };

describe('presets', () => {
  it('Recommended is the short recipe with β = 1; the paper’s presets keep β = 0', () => {
    const r = defaultTrainSettings('recommended');
    expect(r.smallCe).toBe(1);
    expect(r.lr).toBe(0.05);
    expect(r.batchSize).toBe(64);
    const paper = applyPreset(r, 'paper-cifar');
    expect(paper.smallCe).toBe(0);
    expect(paper.lr).toBe(0.05);
    const imagenet = applyPreset({ ...r, epochs: 7 }, 'paper-imagenet');
    expect(imagenet.lr).toBe(4e-3);
    expect(imagenet.epochs).toBe(7);
  });
  it('the recommended learning rate follows the batch size; the paper’s and a typed one do not', () => {
    const r = withBatchSize(defaultTrainSettings('recommended'), 128);
    expect(r.lr).toBe(0.1);
    expect(withBatchSize(r, 32).lr).toBe(0.025);
    // An empty field (NaN) keeps the rate; the number typed next sets it from the reference batch.
    const emptied = withBatchSize(r, Number.NaN);
    expect(emptied.lr).toBe(0.05);
    expect(withBatchSize(emptied, 256).lr).toBe(0.2);
    expect(applyPreset(r, 'paper-cifar').lr).toBe(0.05);
    expect(withBatchSize(applyPreset(r, 'paper-cifar'), 256).lr).toBe(0.05);
    expect(applyPreset(withBatchSize(applyPreset(r, 'paper-cifar'), 256), 'recommended').lr).toBe(0.2);
    const typed = { ...r, lr: 0.03 };
    expect(withBatchSize(typed, 256).lr).toBe(0.03);
  });
  it('the lr preview draws one cycle for Recommended and the paper’s steps for CIFAR', () => {
    const t = defaultTrainSettings('recommended');
    const points = lrPreview(t, 100);
    expect(points[0]!.x).toBe(0);
    expect(points[0]!.y).toBeCloseTo(0.05 / 25, 15);
    const peak = points.reduce((a, b) => (b.y > a.y ? b : a));
    expect(peak.x).toBeCloseTo(0.3, 2);
    expect(peak.y).toBeGreaterThan(0.0499);
    expect(points.at(-1)!.y).toBeCloseTo(0.05 / 25 / 1e4, 12);
    expect(scheduleLabel('recommended')).toBe('SGD-Nesterov, one-cycle');

    const cifar = lrPreview(applyPreset(t, 'paper-cifar'), 100).map((p) => p.y);
    expect(cifar[0]).toBe(0.05);
    expect(cifar[62]).toBe(0.05);
    expect(cifar[63]).toBeCloseTo(0.005, 12);
    expect(cifar[100]).toBeCloseTo(0.00005, 12);
    expect(scheduleLabel('paper-cifar')).toBe('SGD, multistep');
    expect(scheduleLabel('paper-imagenet')).toBe('Adam, warm-up + cosine');
  });
});

describe('requests built from the forms', () => {
  it('an AN run: a TrainConfig the main side accepts, model sized like the import', () => {
    const t = { ...defaultTrainSettings(), epochs: 2, batchSize: 64 };
    const config = trainConfigOf(model, t, 10);
    expect(() => validateTrainConfig(config)).not.toThrow();
    expect(config).toMatchObject({ mode: 'an', alpha: 4, epochs: 2, batchSize: 64, loss: { lambda: 'quadratic', c: 1, smallCe: 1 } });
    expect(config.model).toMatchObject({ inputSize: 28, channels: 1, classes: 10, width: 0.125 });
    expect(config.optimizer).toEqual({ kind: 'sgd', lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 5e-4 });
    expect(config.schedule).toEqual({ kind: 'onecycle', pctStart: 0.3, divFactor: 25, finalDivFactor: 1e4, momentum: { base: 0.85, max: 0.95 } });
    expect(dataSourceOf('/data/fm', model, { ...t, limitTrain: 200 })).toEqual({
      path: '/data/fm',
      settings: { size: 28, channels: 1 },
      limitTrain: 200,
      limitVal: null,
    });
  });
  it('a standard run has no α', () => {
    const config = trainConfigOf({ ...model, mode: 'standard' }, defaultTrainSettings(), 10);
    expect(config.mode).toBe('standard');
    expect(config.alpha).toBeNull();
  });
  it('the ImageNet preset gives Adam with warm-up and cosine, at the lr the user typed', () => {
    const t = { ...applyPreset(defaultTrainSettings(), 'paper-imagenet'), lr: 1e-3 };
    const config = trainConfigOf(model, t, 10);
    expect(config.optimizer).toMatchObject({ kind: 'adam', lr: 1e-3 });
    expect(config.schedule.kind).toBe('cosine');
    expect(config.augmentation).toBe('imagenet');
  });
  it('a DAN run is a SearchConfig with the space sorted', () => {
    const s = searchConfigOf({ ...model, mode: 'dan', space: [8, 1, 4], gamma: 0.5 }, defaultTrainSettings(), 10);
    expect(() => validateSearchConfig(s)).not.toThrow();
    expect(s.space).toEqual([1, 4, 8]);
    expect(s.gamma).toBe(0.5);
    expect(s.tau).toEqual({ initial: 15, decay: 0.045 });
    expect(() => trainConfigOf({ ...model, mode: 'dan' }, defaultTrainSettings(), 10)).toThrow(/search/);
  });
  it('a DAN run searches under a budget by default, at the MACs of fixed α = 4, kept inside the feasible range; γ is the paper’s mode', () => {
    const net = modelConfigOf({ ...model, mode: 'dan' }, 10);
    const alpha4 = costReport(buildGraph(net), 4).small!.macs;
    const s = searchConfigOf({ ...model, mode: 'dan' }, defaultTrainSettings(), 10);
    expect(s.budget).toEqual({ targetMacs: alpha4, tolerance: 0.02, weight: 2 });
    expect(s).toMatchObject({ tauSchedule: 'progress', tauRange: { start: 5, end: 0.2 }, warmup: 0.25, heldOut: 0.2, archBeta1: 0.5, etaTravel: 5 });
    const range = feasibleMacs(net, [1, 2, 4, 8, 16]);
    expect(danBudget({ ...model, mode: 'dan', targetMacs: range.min / 10 }, 10)?.target).toBe(range.min);
    expect(danBudget({ ...model, mode: 'dan', targetMacs: range.max * 2 }, 10)?.target).toBe(range.max);
    expect(danBudget({ ...model, mode: 'dan', space: [4] }, 10)).toBeNull();
    const paper = searchConfigOf({ ...model, mode: 'dan', danCost: 'gamma', gamma: 0.5 }, defaultTrainSettings(), 10);
    expect(paper.budget).toBeUndefined();
    expect(paper.tauSchedule).toBeUndefined();
  });
});

describe('estimate', () => {
  it('equals shared/model’s cost report for the full and the small network', () => {
    const e = estimate(model, 10);
    expect(e.ok).toBe(true);
    if (!e.ok) return;
    const graph = buildGraph({ arch: 'resnet18', stem: 'cifar', inputSize: 28, channels: 1, classes: 10, width: 0.125, compressFirstStage: false });
    expect(e.value.full).toEqual(costReport(graph).full);
    expect(e.value.small).toEqual(costReport(graph, 4).small);
  });
  it('follows α: a larger α gives a smaller small network', () => {
    const a2 = estimate({ ...model, alpha: 2 }, 10);
    const a8 = estimate({ ...model, alpha: 8 }, 10);
    if (!a2.ok || !a8.ok) throw new Error('both estimates should succeed');
    expect(a8.value.small!.params).toBeLessThan(a2.value.small!.params);
    expect(a8.value.full).toEqual(a2.value.full);
  });
  it('a DAN search shows the widest and narrowest small networks of its space', () => {
    const e = estimate({ ...model, mode: 'dan', space: [2, 8] }, 10);
    if (!e.ok) throw new Error(e.message);
    const an2 = estimate({ ...model, alpha: 2 }, 10);
    if (!an2.ok) throw new Error(an2.message);
    expect(e.value.range!.widest).toEqual(an2.value.small);
    expect(e.value.range!.narrowest.macs).toBeLessThan(e.value.range!.widest.macs);
  });
  it('names the field at fault', () => {
    expect(estimate({ ...model, width: 0 }, 10)).toMatchObject({ ok: false, field: 'width' });
    expect(estimate({ ...model, inputSize: 4 }, 10)).toMatchObject({ ok: false, field: 'inputSize' });
    expect(estimate({ ...model, width: 0.01, alpha: 16 }, 10)).toMatchObject({ ok: false, field: 'alpha' });
    expect(estimate({ ...model, mode: 'dan', space: [4] }, 10)).toMatchObject({ ok: false, field: 'space' });
  });
  it('weights take 4 bytes a parameter in float32, 2 in float16', () => {
    expect(weightBytes(1000, 'float32')).toBe(4000);
    expect(weightBytes(1000, 'float16')).toBe(2000);
  });
});
