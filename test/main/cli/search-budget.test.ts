import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { EngineEvent, SearchResultEvent } from '../../../shared/events.js';
import { costReport } from '../../../shared/model/cost.js';
import { buildGraph } from '../../../shared/model/graph.js';
import { feasibleMacs } from '../../../shared/search-budget.js';
import { runCli } from '../../helpers/cli.js';

const root = mkdtempSync(join(tmpdir(), 'adjoin-search-budget-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const DATA = 'synthetic:classes=3,size=12,train=60,val=24';
const NET = ['--arch', 'resnet18', '--stem', 'cifar', '--width', '0.25'];
const model = { arch: 'resnet18', stem: 'cifar', inputSize: 12, channels: 1, classes: 3, width: 0.25, compressFirstStage: false } as const;

describe('adjoin search under a budget: bad input is one line and exit 2, nothing written', () => {
  const base = ['search', '--data', DATA, ...NET, '--epochs', '1'];
  it.each([
    [
      'a target below the feasible range',
      [...base, '--target-macs', '1K'],
      /target 1\.00 K MACs is outside what this search space can reach: 1\.\d\d M \(every group at α = 16\)/,
    ],
    ['a ratio above 1', [...base, '--target-ratio', '1.5'], /share of the full network's MACs in \(0, 1\], got 1.5/],
    ['an α to match outside the ladder', [...base, '--match-alpha', '3'], /α to match must be one of 1, 2, 4, 8, 16, got 3/],
    ['a target that is not a number', [...base, '--target-macs', 'big'], /such as 8.8M or 880K, got 'big'/],
    ['γ with a budget', [...base, '--gamma', '1', '--match-alpha', '4'], /--gamma is the paper’s mode, without a budget/],
    ['two budgets', [...base, '--match-alpha', '4', '--target-ratio', '0.3'], /give one budget: --target-ratio or --match-alpha, not both/],
    [
      'τ range with the paper’s schedule',
      [...base, '--tau-schedule', 'paper', '--tau-end', '0.5'],
      /--tau-start and --tau-end belong to --tau-schedule progress/,
    ],
    ['a τ range that rises', [...base, '--tau-start', '0.1', '--tau-end', '2'], /τ must go from a start ≥ its end > 0, got 0.1 → 2/],
    ['an unknown τ schedule', [...base, '--tau-schedule', 'cosine'], /--tau-schedule must be one of paper, progress, got 'cosine'/],
  ])('%s', (_name, args, message) => {
    const out = join(root, `out-${Math.random().toString(36).slice(2)}`);
    const r = runCli([...args, '--out', out, '--db', join(root, 'bad.db')], { cwd: root });
    expect(r.status, r.stderr).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^adjoin: error: /);
    expect(lines[0]).toMatch(message);
    expect(existsSync(out)).toBe(false);
  });
});

describe('adjoin search under a budget', () => {
  it('prints the feasible range first, searches by default at the MACs of α = 4, lands within ±2 %, and adjoin show lists the argmax and the projected choice', () => {
    const db = join(root, 'history.db');
    const r = runCli(['search', '--data', DATA, ...NET, '--epochs', '1', '--batch', '12', '--out', join(root, 'run'), '--db', db, '--json']);
    expect(r.status, r.stderr).toBe(0);
    const feasible = feasibleMacs(model, [1, 2, 4, 8, 16]);
    const mega = (m: number): string => `${(m / 1e6).toFixed(2)} M`;
    expect(r.stderr.split('\n')[0]).toMatch(
      new RegExp(`^Feasible small-network MACs for α in \\{1, 2, 4, 8, 16\\}: ${mega(feasible.min)} .* … ${mega(feasible.max)} `),
    );
    const events = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as EngineEvent);
    const started = events.find((e) => e.type === 'search-started');
    expect(started).toMatchObject({ heldOut: 12, feasible: { min: feasible.min, max: feasible.max } });
    const target = started?.type === 'search-started' ? started.target : null;
    expect(target).toBe(costReport(buildGraph(model), 4).small!.macs);
    const result = events.find((e): e is SearchResultEvent => e.type === 'search-result')!;
    expect(Math.abs(result.cost.small.macs / target! - 1)).toBeLessThanOrEqual(0.02);

    const show = runCli(['show', '1', '--db', db]);
    expect(show.status).toBe(0);
    expect(show.stdout).toMatch(
      /search {5}budget .* MACs ±2 % \(penalty weight 2\), 20 % of the training images held out for η, 25 % of the steps warm-up, τ 5 → 0.2 by progress/,
    );
    expect(show.stdout).toMatch(/search epoch 1: τ 0\.20, E\[MACs\] .* vs target/);
    expect(show.stdout).toMatch(/argmax {5}s2\./);
    expect(show.stdout).toMatch(/projected {2}s2\..*within ±2 % of/);
  });
});

describe('the random baseline at a budget', () => {
  const COST = ['cost', '--arch', 'resnet18', '--stem', 'cifar', '--input', '28', '--channels', '1', '--classes', '10', '--width', '0.25'];
  const net = { ...model, inputSize: 28, classes: 10 };

  it('adjoin cost --random-within draws an architecture of the space within ±2 %, the same for the same seed, printed as group=α,…', () => {
    const target = costReport(buildGraph(net), 4).small!.macs;
    const draw = (seed: number): { alphas: Record<string, number>; macs: number } =>
      JSON.parse(runCli([...COST, '--random-within', String(target), '--seed', String(seed), '--json']).stdout) as {
        alphas: Record<string, number>;
        macs: number;
      };
    const a = draw(0);
    expect(Math.abs(a.macs / target - 1)).toBeLessThanOrEqual(0.02);
    expect(costReport(buildGraph(net), a.alphas).small!.macs).toBe(a.macs);
    for (const alpha of Object.values(a.alphas)) expect([1, 2, 4, 8, 16]).toContain(alpha);
    expect(draw(0)).toEqual(a);
    expect(draw(1)).not.toEqual(a);
    const text = runCli([...COST, '--random-within', String(target), '--seed', '0']);
    expect(text.stdout.split('\n')[0]).toBe(
      Object.entries(a.alphas)
        .map(([g, v]) => `${g}=${v}`)
        .join(','),
    );
  });

  it.each([
    [
      'a group α outside the ladder',
      ['train', '--data', DATA, ...NET, '--epochs', '1', '--alpha', 's2.out=3'],
      /α of s2.out must be one of 1, 2, 4, 8, 16, got 3/,
    ],
    ['a malformed group map', ['train', '--data', DATA, ...NET, '--epochs', '1', '--alpha', 's2.out=4,oops'], /group=α,group=α… .*got 'oops'/],
    ['--alpha with --random-within', ['cost', '--alpha', '4', '--random-within', '8M'], /give --alpha or --random-within, not both/],
  ])('%s: one line, exit 2', (_name, args, message) => {
    const r = runCli([...args, ...(args[0] === 'train' ? ['--db', join(root, 'bad.db'), '--out', join(root, 'never')] : [])], { cwd: root });
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(message);
  });
});
