import { describe, expect, it } from 'vitest';
import { lambdaAt, lrAt } from '../../shared/schedules.js';

describe('λ(t), appendix E', () => {
  it('min(4t², 1) reaches 1 at half-way and stays there', () => {
    expect(lambdaAt('quadratic', 0)).toBe(0);
    expect(lambdaAt('quadratic', 0.25)).toBeCloseTo(0.25, 12);
    expect(lambdaAt('quadratic', 0.5)).toBe(1);
    expect(lambdaAt('quadratic', 0.9)).toBe(1);
  });
  it('t, 1 − cos t and exp(t) − 1 at hand-computed points', () => {
    expect(lambdaAt('linear', 0.3)).toBeCloseTo(0.3, 12);
    expect(lambdaAt('one-minus-cos', 1)).toBeCloseTo(0.45969769413186023, 12);
    expect(lambdaAt('exp-minus-one', 1)).toBeCloseTo(1.718281828459045, 12);
    expect(lambdaAt('exp-minus-one', 0)).toBe(0);
  });
  it('clamps progress to [0, 1]', () => {
    expect(lambdaAt('linear', -1)).toBe(0);
    expect(lambdaAt('linear', 2)).toBe(1);
  });
});

describe('learning-rate schedules, appendix B', () => {
  it('MultiStepLR of the CIFAR recipe drops ×0.1 at 150, 180 and 210 of 240 epochs', () => {
    const s = { kind: 'multistep', milestones: [150 / 240, 180 / 240, 210 / 240], gamma: 0.1 } as const;
    expect(lrAt(s, 0.05, 149 / 240)).toBeCloseTo(0.05, 12);
    expect(lrAt(s, 0.05, 150 / 240)).toBeCloseTo(0.005, 12);
    expect(lrAt(s, 0.05, 200 / 240)).toBeCloseTo(0.0005, 12);
    expect(lrAt(s, 0.05, 239 / 240)).toBeCloseTo(0.00005, 12);
  });
  it('warm-up then cosine', () => {
    const s = { kind: 'cosine', warmup: 0.1 } as const;
    expect(lrAt(s, 4e-3, 0.05)).toBeCloseTo(2e-3, 6);
    expect(lrAt(s, 4e-3, 0.1)).toBeCloseTo(4e-3, 9);
    expect(lrAt(s, 4e-3, 0.55)).toBeCloseTo(2e-3, 9);
    expect(lrAt(s, 4e-3, 1)).toBeCloseTo(0, 12);
  });
});
