import * as tf from '@tensorflow/tfjs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { searchConfig as decodeSearchConfig } from '../../../../shared/config-codecs.js';
import { budgetedSearch, budgetPenalty, etaLearningRate, searchPlan, tauAt, tauAtStep, type SearchConfig } from '../../../../shared/dan.js';
import type { EngineEvent, SearchResultEvent } from '../../../../shared/events.js';
import { costReport } from '../../../../shared/model/cost.js';
import type { ModelConfig } from '../../../../shared/model/config.js';
import { buildGraph } from '../../../../shared/model/graph.js';
import { feasibleMacs, parseMacs, resolveBudget } from '../../../../shared/search-budget.js';
import { budgetPenaltyTensor } from '../../../../main/engine/dan/budget.js';
import { EtaBatches, splitHeldOut } from '../../../../main/engine/dan/held-out.js';
import { projectOntoBudget } from '../../../../main/engine/dan/projection.js';
import { SearchSpace } from '../../../../main/engine/dan/search-space.js';
import { prepareSearch, search } from '../../../../main/engine/dan/search.js';
import { synthesize } from '../../../../main/engine/data/synthetic.js';
import { Rng } from '../../../../main/engine/rng.js';
import { expectedMacs, propagateMasks } from '../../../../main/engine/soft-masks.js';
import { useWasmBackend } from '../../../helpers/tf.js';
import { paperSearchConfig } from '../../../helpers/configs.js';

useWasmBackend();

const dirs: string[] = [];
const tempDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'adjoin-budget-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const model: ModelConfig = { arch: 'resnet18', stem: 'cifar', inputSize: 12, channels: 1, classes: 4, width: 0.25, compressFirstStage: false };
const data = synthesize({ classes: 4, size: 12, channels: 1, train: 80, val: 32, seed: 2 });
const paperConfig = (over: Partial<SearchConfig> = {}): SearchConfig => paperSearchConfig(model, over);
const budgeted = (targetMacs: number, over: Partial<SearchConfig> = {}): SearchConfig => ({ ...paperConfig(), ...budgetedSearch(targetMacs), ...over });

/** E[MACs] under softmax(η/τ), noise-free, as a function of the groups' η (differentiable). */
function expectedOf(space: SearchSpace, tau: number): tf.Scalar {
  const { masks } = space.softMasks(tau, null);
  return expectedMacs(space.graph, space.plan, propagateMasks(space.graph, space.plan, masks));
}

describe('the budget penalty', () => {
  const budget = { targetMacs: 1000, tolerance: 0.02, weight: 3 };

  it('is exactly zero, with zero gradient, inside the band, and ρ·(|E/T − 1| − tol) outside it', () => {
    for (const e of [981, 990, 1000, 1010, 1019]) {
      const g = tf.grad((x: tf.Tensor) => budgetPenaltyTensor(x as tf.Scalar, budget))(tf.scalar(e));
      expect(budgetPenaltyTensor(tf.scalar(e), budget).dataSync()[0], `E = ${e}`).toBe(0);
      expect(Math.abs(g.dataSync()[0]!), `gradient at E = ${e}`).toBe(0);
      expect(budgetPenalty(e, budget)).toBe(0);
    }
    // 1100: 3·(0.10 − 0.02) = 0.24; 850: 3·(0.15 − 0.02) = 0.39; the slope is ±ρ/T.
    expect(budgetPenaltyTensor(tf.scalar(1100), budget).dataSync()[0]).toBeCloseTo(0.24, 5);
    expect(budgetPenaltyTensor(tf.scalar(850), budget).dataSync()[0]).toBeCloseTo(0.39, 5);
    expect(budgetPenalty(1100, budget)).toBeCloseTo(0.24, 12);
    const slope = (e: number): number =>
      tf
        .grad((x: tf.Tensor) => budgetPenaltyTensor(x as tf.Scalar, budget))(tf.scalar(e))
        .dataSync()[0]!;
    expect(slope(1100)).toBeCloseTo(3 / 1000, 7);
    expect(slope(850)).toBeCloseTo(-3 / 1000, 7);
  });

  it.each([
    { name: 'above the target', share: 0.5 },
    { name: 'below the target', share: 1.6 },
  ])('its η gradient agrees with finite differences and a step down it moves E[MACs] toward the target: E $name', ({ share }) => {
    const graph = buildGraph(model);
    const space = new SearchSpace(graph, [1, 2, 4, 8, 16]);
    const rng = new Rng(7);
    for (const g of space.groups) g.eta.assign(tf.tensor1d(Array.from({ length: 5 }, () => rng.normal() * 0.5)));
    const tau = 1.5;
    const e0 = expectedOf(space, tau).dataSync()[0]!;
    // A target the current E is `share` times away from: E above it when share < 1.
    const target = { targetMacs: e0 * share, tolerance: 0.02, weight: 2 };
    const etas = [...space.etaVariables().values()];
    const penalty = (): tf.Scalar => budgetPenaltyTensor(expectedOf(space, tau), target);
    const { grads } = tf.variableGrads(penalty, etas);
    const h = 1e-2;
    for (const v of etas.slice(0, 4)) {
      const analytic = grads[v.name]!.dataSync();
      const base = v.dataSync().slice();
      for (let i = 0; i < base.length; i++) {
        const at = (d: number): number => {
          const moved = base.slice();
          moved[i] = base[i]! + d;
          v.assign(tf.tensor1d(moved));
          return penalty().dataSync()[0]!;
        };
        const numeric = (at(h) - at(-h)) / (2 * h);
        v.assign(tf.tensor1d(base));
        expect(Math.abs(numeric - analytic[i]!), `${v.name}[${i}]`).toBeLessThan(2e-3 * Math.max(1, Math.abs(numeric)) + 1e-4);
      }
    }
    // One gradient step: E moves toward T.
    for (const v of etas) v.assign(tf.sub(v, tf.mul(grads[v.name]!, 0.5)));
    const e1 = expectedOf(space, tau).dataSync()[0]!;
    expect(Math.abs(e1 - target.targetMacs)).toBeLessThan(Math.abs(e0 - target.targetMacs));
    space.dispose();
  });
});

describe('the τ schedule by progress', () => {
  it('holds τ_start through the warm-up, then falls geometrically to τ_end at the last step', () => {
    const c = budgeted(1e6, { tauRange: { start: 5, end: 0.2 }, warmup: 0.25 });
    // 100 steps: the warm-up is steps 0 … 24, the fall runs from step 25 (τ 5) to step 99 (τ 0.2).
    expect(tauAtStep(c, 0, 100, 0)).toBe(5);
    expect(tauAtStep(c, 25, 100, 0)).toBe(5);
    expect(tauAtStep(c, 62, 100, 1)).toBeCloseTo(1, 12); // halfway: 5·(0.04)^0.5
    expect(tauAtStep(c, 99, 100, 3)).toBeCloseTo(0.2, 12);
    expect(tauAtStep(c, 43.5, 100, 0)).toBeCloseTo(5 * 0.04 ** 0.25, 12);
    // η's learning rate spreads the travel over the 75 η steps.
    expect(etaLearningRate(c, 100)).toBeCloseTo(5 / 75, 12);
  });

  it('an old stored config (no new fields) decodes to the paper: τ by epoch, no budget, no hold-out, η at archLr', () => {
    const old = JSON.parse(JSON.stringify(paperConfig())) as Record<string, unknown>;
    const decoded = decodeSearchConfig(old, 'config');
    expect(decoded).toEqual(paperConfig());
    expect(searchPlan(decoded)).toMatchObject({ budget: null, tauSchedule: 'paper', warmup: 0, heldOut: 0, archBeta1: 0.9, etaTravel: null });
    for (const epoch of [0, 1, 4]) expect(tauAtStep(decoded, 37, 100, epoch)).toBe(tauAt(decoded.tau, epoch));
    expect(etaLearningRate(decoded, 100)).toBe(0.05);
    // A budgeted one round-trips, and hostile values are refused with the field named.
    const fresh = budgeted(2e6);
    expect(decodeSearchConfig(JSON.parse(JSON.stringify(fresh)), 'config')).toEqual(fresh);
    expect(() => decodeSearchConfig({ ...fresh, heldOut: 1.5 }, 'config')).toThrow(/held-out share/);
    expect(() => decodeSearchConfig({ ...fresh, tauRange: { start: 0.1, end: 5 } }, 'config')).toThrow(/τ must go from/);
    expect(() => decodeSearchConfig({ ...fresh, budget: { targetMacs: -1, tolerance: 0.02, weight: 1 } }, 'config')).toThrow(/MACs target/);
    expect(() => decodeSearchConfig({ ...fresh, tauSchedule: 'cosine' }, 'config')).toThrow();
  });

  it('follows the schedule across a resume: the same τ at every step, the same held-out batches, the same η', async () => {
    const c = budgeted(feasibleMacs(model, [1, 2, 4, 8, 16]).max * 0.5, { epochs: 2 });
    const stepTaus = (events: EngineEvent[]): Array<[number, number]> =>
      events.flatMap((e) => (e.type === 'search-step' ? [[e.globalStep, e.tau] as [number, number]] : []));
    const straight: EngineEvent[] = [];
    const a = await search({ config: c, data, workers: 1, stepEventInterval: 0, emit: (e) => straight.push(e) });
    expect(a.status).toBe('finished');
    const total = (straight.find((e) => e.type === 'search-started') as { totalSteps: number }).totalSteps;
    // 80 images, a fifth held out: 64 train the weights, 4 steps an epoch, 8 in all, 2 of warm-up.
    expect(total).toBe(8);
    for (const [globalStep, tau] of stepTaus(straight)) expect(tau).toBeCloseTo(tauAtStep(c, globalStep - 1, total, 0), 12);
    expect(stepTaus(straight).map(([, t]) => t)[0]).toBe(5);
    expect(stepTaus(straight).at(-1)![1]).toBeCloseTo(0.2, 12);

    const dir = tempDir();
    let steps = 0;
    const first = await search({
      config: c,
      data,
      outDir: dir,
      workers: 1,
      emit: () => undefined,
      beforeStep: () => {
        steps += 1;
      },
      stopRequested: () => (steps >= 5 ? 'checkpoint-and-stop' : null),
    });
    expect(first.status).toBe('cancelled');
    const resumed: EngineEvent[] = [];
    const second = await search({ config: c, data, outDir: dir, resume: true, workers: 1, stepEventInterval: 0, emit: (e) => resumed.push(e) });
    expect(second.status).toBe('finished');
    expect(stepTaus(resumed)).toEqual(stepTaus(straight).slice(5));
    const etaOf = (events: EngineEvent[]): number[] => (events.find((e) => e.type === 'search-result') as SearchResultEvent).groups.flatMap((g) => g.eta);
    const [x, y] = [etaOf(straight), etaOf(resumed)];
    expect(Math.max(...x.map((v, i) => Math.abs(v - y[i]!)))).toBeLessThan(1e-5);
  });
});

describe('the held-out split', () => {
  it('is disjoint from the weight split, covers the training images, and is the same for the same seed', () => {
    // Each image's first pixel is its index (mod 256) and its label is the index: what lands where can be read back.
    const n = 500;
    const pixels = 4;
    const split = {
      images: Uint8Array.from({ length: n * pixels }, (_, i) => Math.floor(i / pixels) % 256),
      labels: Int32Array.from({ length: n }, (_, i) => i),
      count: n,
    };
    const s = splitHeldOut(split, 0.2, new Rng(3), pixels);
    expect(s.heldOut.count).toBe(100);
    expect(s.weights.count).toBe(400);
    const held = new Set(s.heldOut.labels);
    for (const l of s.weights.labels) expect(held.has(l)).toBe(false);
    expect(new Set([...s.heldOut.labels, ...s.weights.labels]).size).toBe(n);
    for (let k = 0; k < s.heldOut.count; k++) expect(s.heldOut.images[k * pixels]).toBe(s.heldOut.labels[k]! % 256);
    expect([...splitHeldOut(split, 0.2, new Rng(3), pixels).heldOutIndices]).toEqual([...s.heldOutIndices]);
    expect([...splitHeldOut(split, 0.2, new Rng(4), pixels).heldOutIndices]).not.toEqual([...s.heldOutIndices]);
    expect(() => splitHeldOut({ ...split, count: 2, labels: split.labels.subarray(0, 2) }, 0.2, new Rng(3), pixels)).toThrow(/leaves one side empty/);
  });

  it('a search trains its weights on one part and steps η on the other', () => {
    const c = budgeted(1e6);
    const setup = prepareSearch(c, data, new Rng(1), new Rng(2));
    expect(setup.heldOut).not.toBeNull();
    const key = (split: { images: Uint8Array; count: number }, k: number): string => split.images.subarray(k * 144, (k + 1) * 144).join(',');
    const all = new Set(Array.from({ length: data.train.count }, (_, k) => key(data.train, k)));
    expect(all.size).toBe(data.train.count);
    const weights = new Set(Array.from({ length: setup.train.count }, (_, k) => key(setup.train, k)));
    for (let k = 0; k < setup.heldOut!.count; k++) expect(weights.has(key(setup.heldOut!, k))).toBe(false);
    expect(setup.train.count + setup.heldOut!.count).toBe(80);
    expect(() => prepareSearch(c, data, new Rng(1))).toThrow(/generator for the split/);
    setup.params.dispose();
    setup.space.dispose();
  });

  it('its η batches cycle through every held-out image each pass and resume where they stood', () => {
    const batches = new EtaBatches(10, new Rng(5));
    const pass = [...batches.next(4), ...batches.next(4)];
    const saved = batches.state();
    const rest = [batches.next(4), batches.next(4), batches.next(4)].map((b) => [...b]);
    expect(new Set(pass).size).toBe(8);
    const again = new EtaBatches(10, new Rng(99));
    again.restore(saved);
    expect([again.next(4), again.next(4), again.next(4)].map((b) => [...b])).toEqual(rest);
    expect(() => again.restore({ rng: saved.rng, position: 11 })).toThrow(/outside/);
  });
});

describe('the projection onto the budget', () => {
  it('never leaves the space, moves one step of the space at a time, stops, and lands in the band when a path reaches it', async () => {
    const rng = new Rng(11);
    const space = [1, 2, 4, 8, 16];
    for (let trial = 0; trial < 200; trial++) {
      const groups = Array.from({ length: 2 + rng.int(6) }, (_, i) => `g${i}`);
      // MACs of a group at α: c²/α-like and decreasing in α; KL increasing in α, noisy.
      const weight = Object.fromEntries(groups.map((g) => [g, 100 + rng.int(10_000)]));
      const noise = Object.fromEntries(groups.map((g) => [g, rng.uniform()]));
      const macsOf = (a: Readonly<Record<string, number>>): number => 50 + groups.reduce((s, g) => s + Math.round(weight[g]! / a[g]!), 0);
      let calls = 0;
      const klOf = async (a: Readonly<Record<string, number>>): Promise<number> => {
        calls++;
        for (const g of groups) if (!space.includes(a[g]!)) throw new Error(`left the space: ${g}=${a[g]}`);
        return groups.reduce((s, g) => s + Math.log2(a[g]!) * noise[g]!, 0);
      };
      const start = Object.fromEntries(groups.map((g) => [g, space[rng.int(space.length)]!]));
      const lo = macsOf(Object.fromEntries(groups.map((g) => [g, 16])));
      const hi = macsOf(Object.fromEntries(groups.map((g) => [g, 1])));
      const target = lo + rng.uniform() * (hi - lo);
      const p = await projectOntoBudget({ start, space, target, tolerance: 0.02, macsOf, klOf });
      for (const g of groups) expect(space).toContain(p.alphas[g]);
      for (const m of p.moves) expect(Math.abs(space.indexOf(m.to) - space.indexOf(m.from))).toBe(1);
      expect(p.moves.length).toBeLessThanOrEqual(groups.length * (space.length - 1));
      expect(calls).toBeLessThanOrEqual(1 + groups.length * p.moves.length);
      expect(p.macs).toBe(macsOf(p.alphas));
      expect(p.withinBand).toBe(Math.abs(p.macs / target - 1) <= 0.02);
      // Moves all go one way.
      const narrowing = macsOf(start) > target;
      for (const m of p.moves) expect(m.to > m.from).toBe(narrowing);
    }
  });

  it('takes the move with the least KL per MAC saved, and says when the band is out of reach', async () => {
    // Two groups: narrowing a saves 400 MACs for 0.1 KL, narrowing b saves 400 for 0.4 KL.
    const macsOf = (a: Readonly<Record<string, number>>): number => 800 / a['a']! + 800 / a['b']!;
    const klOf = async (a: Readonly<Record<string, number>>): Promise<number> => 0.1 * Math.log2(a['a']!) + 0.4 * Math.log2(a['b']!);
    const p = await projectOntoBudget({ start: { a: 1, b: 1 }, space: [1, 2], target: 1200, tolerance: 0.02, macsOf, klOf });
    expect(p).toMatchObject({ alphas: { a: 2, b: 1 }, macs: 1200, withinBand: true, moves: [{ group: 'a', from: 1, to: 2, macs: 1200 }] });
    // 1000 cannot be met (1200 or 800): the closest is taken, and it says so.
    const far = await projectOntoBudget({ start: { a: 1, b: 1 }, space: [1, 2], target: 1000, tolerance: 0.02, macsOf, klOf });
    expect(far.withinBand).toBe(false);
    expect([800, 1200]).toContain(far.macs);
  });
});

describe('the flat-distribution warning', () => {
  it('names the groups still flat at the end: the paper’s τ = 15 after one epoch leaves every group near uniform', async () => {
    const events: EngineEvent[] = [];
    const outcome = await search({ config: paperConfig({ epochs: 1 }), data, workers: 1, stepEventInterval: 0, emit: (e) => events.push(e) });
    expect(outcome.status).toBe('finished');
    const result = events.find((e): e is SearchResultEvent => e.type === 'search-result')!;
    expect(result.projection).toBeNull();
    expect(result.argmax.alphas).toEqual(result.alphas);
    expect(result.warnings).toHaveLength(1);
    expect(result.warnings[0]).toMatch(
      new RegExp(`^the width distributions of ${result.groups.length} of ${result.groups.length} groups are still flat at the end`),
    );
  });
});

describe('a budgeted search', () => {
  const feasible = feasibleMacs(model, [1, 2, 4, 8, 16]);

  it('reads its budget from MACs, a ratio or an α and refuses one outside the feasible range', () => {
    expect(parseMacs('8.8M', 'x')).toBeCloseTo(8.8e6, 3);
    expect(parseMacs('880K', 'x')).toBe(880_000);
    expect(parseMacs('1.2e6', 'x')).toBe(1_200_000);
    expect(() => parseMacs('lots', 'target-macs')).toThrow(/8.8M/);
    const a4 = costReport(buildGraph(model), 4).small!.macs;
    expect(resolveBudget(model, [1, 2, 4, 8, 16], { kind: 'alpha', alpha: 4 }).targetMacs).toBe(a4);
    expect(resolveBudget(model, [1, 2, 4, 8, 16], { kind: 'ratio', ratio: 0.5 }).targetMacs).toBe(Math.round(0.5 * feasible.full));
    expect(() => resolveBudget(model, [1, 2, 4, 8, 16], { kind: 'macs', macs: feasible.min / 2 })).toThrow(/outside what this search space can reach/);
    expect(() => resolveBudget(model, [1, 2, 4], { kind: 'alpha', alpha: 16 })).toThrow(/every group at α = 4/);
  });

  it('lands within ±2 % of two different targets, the lower target giving the lower MACs, with both configurations and the diagnostics reported', async () => {
    const found: number[] = [];
    for (const alpha of [2, 8]) {
      const target = costReport(buildGraph(model), alpha).small!.macs;
      const events: EngineEvent[] = [];
      const outcome = await search({ config: budgeted(target, { epochs: 2 }), data, workers: 1, stepEventInterval: 0, emit: (e) => events.push(e) });
      expect(outcome.status).toBe('finished');
      const started = events.find((e) => e.type === 'search-started');
      expect(started).toMatchObject({ target, feasible: { min: feasible.min, max: feasible.max }, heldOut: 16, warmupSteps: 2 });
      const epochs = events.flatMap((e) => (e.type === 'search-epoch' ? [e] : []));
      expect(epochs).toHaveLength(2);
      for (const e of epochs) {
        expect(e.target).toBe(target);
        expect(e.penalty).toBeCloseTo(budgetPenalty(e.expectedMacs, { targetMacs: target, tolerance: 0.02, weight: 2 }), 9);
        expect(Object.keys(e.entropies).sort()).toEqual(e.groups.map((g) => g.group).sort());
        for (const h of Object.values(e.entropies)) expect(h).toBeGreaterThanOrEqual(0);
      }
      // η stepped after the warm-up, on held-out batches.
      const steps = events.flatMap((e) => (e.type === 'search-step' ? [e] : []));
      expect(steps.slice(0, 2).every((s) => s.etaLoss === null)).toBe(true);
      expect(steps.slice(2).every((s) => s.etaLoss !== null && Number.isFinite(s.etaLoss))).toBe(true);
      const result = events.find((e): e is SearchResultEvent => e.type === 'search-result')!;
      expect(result.projection).not.toBeNull();
      expect(Math.abs(result.cost.small.macs / target - 1)).toBeLessThanOrEqual(0.02);
      expect(result.projection!.withinBand).toBe(true);
      expect(result.argmax.cost.macs).toBe(costReport(buildGraph(model), result.argmax.alphas).small!.macs);
      expect(outcome.status === 'finished' && outcome.alphas).toEqual(result.alphas);
      found.push(result.cost.small.macs);
    }
    // α = 8's MACs are below α = 2's.
    expect(found[1]!).toBeLessThan(found[0]!);
  });
});
