import { describe, expect, it } from 'vitest';
import { validateSearchConfig } from '../../shared/dan.js';
import { costReport } from '../../shared/model/cost.js';
import { buildGraph } from '../../shared/model/graph.js';
import { validateTrainConfig } from '../../shared/train-config.js';
import {
  applyPreset,
  DEFAULT_MODEL_SETTINGS,
  dataSourceOf,
  defaultTrainSettings,
  estimate,
  searchConfigOf,
  trainConfigOf,
  weightBytes,
} from '../../renderer/src/lib/wizard-config.js';

const model = { ...DEFAULT_MODEL_SETTINGS, inputSize: 28, channels: 1 as const, width: 0.125 };

describe('presets', () => {
  it('Recommended is the CIFAR recipe with β = 1; the paper’s presets keep β = 0', () => {
    const r = defaultTrainSettings('recommended');
    expect(r.smallCe).toBe(1);
    expect(r.lr).toBe(0.05);
    const paper = applyPreset(r, 'paper-cifar');
    expect(paper.smallCe).toBe(0);
    const imagenet = applyPreset({ ...r, epochs: 7 }, 'paper-imagenet');
    expect(imagenet.lr).toBe(4e-3);
    expect(imagenet.epochs).toBe(7);
  });
});

describe('requests built from the forms', () => {
  it('an AN run: a TrainConfig the main side accepts, model sized like the import', () => {
    const t = { ...defaultTrainSettings(), epochs: 2, batchSize: 64 };
    const config = trainConfigOf(model, t, 10);
    expect(() => validateTrainConfig(config)).not.toThrow();
    expect(config).toMatchObject({ mode: 'an', alpha: 4, epochs: 2, batchSize: 64, loss: { lambda: 'quadratic', c: 1, smallCe: 1 } });
    expect(config.model).toMatchObject({ inputSize: 28, channels: 1, classes: 10, width: 0.125 });
    expect(config.optimizer).toMatchObject({ kind: 'sgd', lr: 0.05 });
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
