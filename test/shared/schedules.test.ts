import { describe, expect, it } from 'vitest';
import { lambdaAt, type LrSchedule, ONE_CYCLE, ratesAt, validateSchedule } from '../../shared/schedules.js';

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

/** The learning rate of 0-based step `step` of `total`. */
const lr = (s: LrSchedule, base: number, step: number, total: number): number => ratesAt(s, base, step, total).lr;

describe('learning-rate schedules of the paper, appendix B, by step', () => {
  it('MultiStepLR of the CIFAR recipe drops ×0.1 at 150, 180 and 210 of 240 epochs', () => {
    const s = { kind: 'multistep', milestones: [150 / 240, 180 / 240, 210 / 240], gamma: 0.1 } as const;
    // 240 steps: step k is epoch k of the paper's run.
    expect(lr(s, 0.05, 149, 240)).toBeCloseTo(0.05, 12);
    expect(lr(s, 0.05, 150, 240)).toBeCloseTo(0.005, 12);
    expect(lr(s, 0.05, 200, 240)).toBeCloseTo(0.0005, 12);
    expect(lr(s, 0.05, 239, 240)).toBeCloseTo(0.00005, 12);
    expect(ratesAt(s, 0.05, 10, 240).momentum).toBeNull();
  });
  it('linear warm-up over its steps, the last one at the full rate, then cosine', () => {
    const s = { kind: 'cosine', warmup: 0.1 } as const;
    // 100 steps: 10 of warm-up at 4e-3·(k+1)/10, then ½·4e-3·(1 + cos(π(k − 10)/90)).
    expect(lr(s, 4e-3, 0, 100)).toBeCloseTo(4e-4, 12);
    expect(lr(s, 4e-3, 4, 100)).toBeCloseTo(2e-3, 12);
    expect(lr(s, 4e-3, 9, 100)).toBeCloseTo(4e-3, 12);
    expect(lr(s, 4e-3, 10, 100)).toBeCloseTo(4e-3, 12);
    expect(lr(s, 4e-3, 55, 100)).toBeCloseTo(2e-3, 12);
    // cos(89π/90) = −0.99939082701909576: the last step is small but not zero.
    expect(lr(s, 4e-3, 99, 100)).toBeCloseTo(0.5 * 4e-3 * (1 - 0.99939082701909576), 15);
    expect(lr(s, 4e-3, 120, 100)).toBe(lr(s, 4e-3, 99, 100));
  });
  it('without warm-up the cosine starts at the full rate', () => {
    expect(lr({ kind: 'cosine', warmup: 0 }, 1, 0, 4)).toBe(1);
    // ½(1 + cos(π/4)) = 0.85355339059327373
    expect(lr({ kind: 'cosine', warmup: 0 }, 1, 1, 4)).toBeCloseTo(0.85355339059327373, 12);
  });
});

/**
 * PyTorch's OneCycleLR (max_lr 0.05, defaults: pct_start 0.3, div_factor 25,
 * final_div_factor 1e4, momentum 0.85–0.95, cosine annealing). Phase 1 ends
 * at step 0.3·T − 1, phase 2 at T − 1; within a phase
 * anneal(a, b, pct) = b + (a − b)/2·(cos(π·pct) + 1). For T = 100: phase 1
 * runs from 0.002 to 0.05 over steps 0–29, phase 2 from 0.05 to 2e-7 over
 * 29–99. The figures below are those formulas, written out (and what
 * PyTorch 1.13's scheduler reports at those steps).
 */
describe('one-cycle learning rate and momentum, as PyTorch’s OneCycleLR, by step', () => {
  const at = (step: number, total: number): [number, number | null] => {
    const r = ratesAt(ONE_CYCLE, 0.05, step, total);
    return [r.lr, r.momentum];
  };
  const expectRates = (step: number, total: number, lrWant: number, momentumWant: number): void => {
    const [l, m] = at(step, total);
    expect(l, `lr at step ${step} of ${total}`).toBeCloseTo(lrWant, 13);
    expect(m, `momentum at step ${step} of ${total}`).toBeCloseTo(momentumWant, 13);
  };

  it('starts at max/25 with the momentum at its top', () => {
    expectRates(0, 100, 0.002, 0.95);
  });
  it('warms up along half a cosine: step 10 of 100 is pct 10/29 of phase 1', () => {
    // 0.05 + (0.002 − 0.05)/2·(cos(10π/29) + 1), cos(10π/29) = 0.46841...; momentum 0.85 + 0.05·(cos(10π/29) + 1)
    expectRates(10, 100, 0.014758197423205041, 0.9234204220349895);
    expectRates(28, 100, 0.04985931097170463, 0.850293102142282);
  });
  it('peaks at step 0.3·T − 1 with the momentum at its bottom', () => {
    expectRates(29, 100, 0.05, 0.85);
    expectRates(470, 1570, 0.05, 0.85);
  });
  it('anneals to max/25/10⁴ at the last step, the momentum back at its top', () => {
    expectRates(30, 100, 0.04997482676422622, 0.8500503466729342);
    // Half-way through phase 2 (step 64 = 29 + 70/2): the mean of 0.05 and 2e-7, and of 0.85 and 0.95.
    expectRates(64, 100, 0.0250001, 0.9);
    expectRates(98, 100, 2.53732357737894e-5, 0.9499496533270657);
    expectRates(99, 100, 2e-7, 0.95);
    // The README's protocol: 157 steps an epoch, 10 epochs.
    expectRates(1000, 1570, 0.026392936473552005, 0.8972143159101595);
    expectRates(1569, 1570, 2e-7, 0.95);
  });
  it('a run shorter than the warm-up has only the annealing phase, as in PyTorch', () => {
    // T = 3: phase 1 would end at step −0.1, so phase 2 runs from step −0.1 to 2.
    expectRates(0, 3, 0.049720771772545594, 0.8505584586887436);
    expectRates(1, 3, 0.023131855133348752, 0.9037365046793212);
    expectRates(2, 3, 2e-7, 0.95);
  });
  it('scales with the peak rate and leaves the momentum alone when it is not cycled', () => {
    const plain = { ...ONE_CYCLE, momentum: null } as const;
    expect(ratesAt(plain, 0.1, 0, 100).lr).toBeCloseTo(0.004, 15);
    expect(ratesAt(plain, 0.1, 0, 100).momentum).toBeNull();
    expect(ratesAt(plain, 0.1, 29, 100).lr).toBeCloseTo(0.1, 14);
  });
  it('steps past the end read as the last one', () => {
    expect(at(150, 100)).toEqual(at(99, 100));
    expect(at(-1, 100)).toEqual(at(0, 100));
  });
});

describe('schedule checks', () => {
  it('accepts the recipes’ schedules and names the bad number of others', () => {
    expect(validateSchedule(ONE_CYCLE)).toBe(ONE_CYCLE);
    expect(() => validateSchedule({ ...ONE_CYCLE, pctStart: 1 })).toThrow(/pctStart must be above 0 and below 1, got 1/);
    expect(() => validateSchedule({ ...ONE_CYCLE, divFactor: 0 })).toThrow(/divFactor must be positive, got 0/);
    expect(() => validateSchedule({ ...ONE_CYCLE, momentum: { base: 0.85, max: 1.5 } })).toThrow(/momentum must be from 0 to below 1/);
    expect(() => validateSchedule({ kind: 'cosine', warmup: Number.NaN })).toThrow(/warmup is a fraction of the run from 0 to 1, got NaN/);
    expect(() => validateSchedule({ kind: 'multistep', milestones: [0.5, 2], gamma: 0.1 })).toThrow(/milestones .* got 2/);
  });
});
