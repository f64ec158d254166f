import { describe, expect, it } from 'vitest';
import { dataSource, recordedSplit, searchConfig, sweepSpec, trainConfig } from '../../shared/config-codecs.js';
import { DecodeError } from '../../shared/decode.js';
import { epochEvent } from '../../shared/event-codecs.js';
import { InputError } from '../../shared/errors.js';
import { DEFAULT_KD, DEFAULT_LOSS, recipe } from '../../shared/train-config.js';
import { tinyConfig } from '../helpers/configs.js';

/** A config as JSON has it: what the store and the renderer send. */
const json = (v: unknown): unknown => JSON.parse(JSON.stringify(v));

describe('training configs', () => {
  it('decode every mode to its own shape', () => {
    for (const mode of ['standard', 'small', 'an'] as const) {
      const c = tinyConfig({ mode });
      expect(trainConfig(json(c), 'config')).toEqual(c);
    }
    const kd = tinyConfig({ mode: 'kd', kd: { teacher: '/runs/1/network.adjoin', teacherRun: 1, ...DEFAULT_KD } });
    expect(trainConfig(json(kd), 'config')).toEqual(kd);
  });

  it('read what earlier versions stored: kd: null in every config', () => {
    const stored = { ...(json(tinyConfig({ mode: 'an', alpha: { 's2.out': 4, 's2.b1.conv1': 8 } })) as object), kd: null };
    const c = trainConfig(stored, 'runs[3].config');
    expect(c).not.toHaveProperty('kd');
    expect(c).toMatchObject({ mode: 'an', alpha: { 's2.out': 4, 's2.b1.conv1': 8 } });
  });

  it('refuse a mode without its parts, and a standard run with an α, naming the field', () => {
    const an = json(tinyConfig()) as Record<string, unknown>;
    expect(() => trainConfig({ ...an, mode: 'kd' }, 'config')).toThrow(new DecodeError('config.kd', 'an object', undefined));
    expect(() => trainConfig({ ...an, mode: 'standard' }, 'config')).toThrow(/config\.alpha: expected null \(a standard run has no α\), got 2/);
    expect(() => trainConfig({ ...an, alpha: null }, 'config')).toThrow(/config\.alpha: expected a number or a map of width group to α, got null/);
    expect(() => trainConfig({ ...an, mode: 'dan' }, 'config')).toThrow(/config\.mode: expected one of standard, small, an, kd, got "dan"/);
  });

  it('then apply the rules a new run must pass', () => {
    const an = json(tinyConfig()) as Record<string, unknown>;
    expect(() => trainConfig({ ...an, alpha: 3 }, 'config')).toThrow(InputError);
    expect(() => trainConfig({ ...an, epochs: 0 }, 'config')).toThrow(/epochs must be an integer from 1/);
  });
});

describe('other configs and records', () => {
  const settings = { epochs: 2, batchSize: 16, ...recipe('cifar'), loss: DEFAULT_LOSS, augmentation: 'cifar', seed: 0, checkpointEvery: 1 };
  const model = tinyConfig().model;

  it('a search config, with its rules', () => {
    const c = { ...settings, model, space: [1, 2, 4], gamma: 1, archLr: 0.01, tau: { initial: 15, decay: 0.045 }, noise: 'fresh' };
    expect(searchConfig(json(c), 'search')).toEqual(c);
    expect(() => searchConfig({ ...c, space: [4] }, 'search')).toThrow(/at least two α values/);
  });

  it('a sweep spec is decoded, then checked as a whole', () => {
    const data = { path: '/data/pets', settings: { size: 32 }, limitTrain: null, limitVal: 10 };
    expect(dataSource(data, 'data')).toEqual(data);
    const spec = { ...settings, data, model, modes: ['standard', 'kd'], alphas: [4], seeds: [0, 1], smallCes: [0], kd: { ...DEFAULT_KD } };
    expect(sweepSpec(json(spec), 'spec')).toMatchObject({ modes: ['standard', 'kd'], seeds: [0, 1] });
    expect(() => sweepSpec({ ...spec, modes: ['kd'] }, 'spec')).toThrow(/kd runs are taught by the standard run/);
  });

  it('how a run chose its images, as its dataset row keeps it', () => {
    expect(recordedSplit({ limitTrain: 100, settings: { size: 28, channels: 1 } }, 'split')).toEqual({ limitTrain: 100, settings: { size: 28, channels: 1 } });
    expect(recordedSplit({}, 'split')).toEqual({});
    expect(() => recordedSplit({ settings: { channels: 2 } }, 'dataset 4: split')).toThrow(/dataset 4: split\.settings\.channels: expected one of 1, 3, got 2/);
  });

  it('an epoch as a checkpoint keeps it', () => {
    const e = {
      type: 'epoch',
      time: 1,
      epoch: 1,
      epochs: 2,
      trainLoss: 0.5,
      trainAccuracy: { full: 0.5, small: null },
      val: { full: { accuracy: 0.5, loss: 1 }, small: null },
      lambda: 0.25,
      lr: 0.05,
      seconds: 3,
    };
    expect(epochEvent(e, 'history[0]')).toEqual(e);
    expect(() => epochEvent({ ...e, val: { full: { accuracy: 'high' }, small: null } }, 'history[0]')).toThrow(
      /history\[0\]\.val\.full\.accuracy: expected a finite number/,
    );
  });
});
