import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../../helpers/cli.js';

const root = mkdtempSync(join(tmpdir(), 'adjoin-search-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('adjoin search', () => {
  it('searches, prints the per-epoch distributions and the α map, then trains the found network', () => {
    const out = join(root, 'dan');
    const r = runCli([
      'search',
      '--data',
      'synthetic:classes=3,size=12,train=48,val=24',
      '--arch',
      'resnet18',
      '--width',
      '0.25',
      '--space',
      '1,2,4,8,16',
      '--gamma',
      '2',
      '--epochs',
      '2',
      '--batch',
      '16',
      '--then-train',
      '1',
      '--out',
      out,
      '--json',
    ]);
    expect(r.status).toBe(0);
    const events = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; alphas?: Record<string, number>; config?: { alpha: unknown; schedule: { kind: string } }; lr?: number });
    const types = events.map((e) => e.type);
    expect(types.filter((t) => t === 'search-epoch')).toHaveLength(2);
    const result = events.find((e) => e.type === 'search-result')!;
    expect(Object.keys(result.alphas!)).toHaveLength(9);
    const started = events.find((e) => e.type === 'started')!;
    expect(started.config!.alpha).toEqual(result.alphas);
    // The search and the training of what it found both follow the default (short) recipe: one cycle each.
    const starts = events.filter((e) => e.type === 'search-started' || e.type === 'started');
    expect(starts.map((e) => e.config!.schedule.kind)).toEqual(['onecycle', 'onecycle']);
    const searchSteps = events.filter((e) => e.type === 'search-step');
    // 2 epochs of 3 steps: OneCycleLR over 6 steps starts at peak/25 = 0.0125/25.
    expect(searchSteps[0]!.lr).toBeCloseTo(0.0125 / 25, 12);
    expect(types.at(-1)).toBe('finished');
    expect(JSON.parse(readFileSync(join(out, 'search', 'search.json'), 'utf8'))).toMatchObject({ alphas: result.alphas });
    expect(existsSync(join(out, 'train', 'small-tfjs', 'model.json'))).toBe(true);
  });

  it.each([
    [['--space', '3,5'], /search space values must be among 1, 2, 4, 8, 16, got 3/],
    [['--space', '4'], /at least two α values/],
    [['--gamma=-1'], /γ must be a non-negative number/],
    [['--gamma', '1', '--gamma-raw', '1e-10'], /not both/],
    [['--space', '1,32'], /got 32/],
  ])('refuses %j with exit code 2 and writes nothing', (args, message) => {
    const out = join(root, `bad-${Math.random().toString(36).slice(2)}`);
    const r = runCli(['search', '--data', 'synthetic', '--out', out, ...(args as string[])]);
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(message as RegExp);
    expect(existsSync(out)).toBe(false);
  });
});
