import { describe, expect, it } from 'vitest';
import { dodge, sweepPlotSvg } from '../../shared/sweep-plot.js';
import {
  cellConfig,
  combineSweeps,
  expandGrid,
  meanStd,
  paretoFront,
  shippedPoints,
  statsCsv,
  statsMarkdown,
  summarize,
  teacherKey,
  validateSweepSpec,
  type CellResult,
  type SweepCell,
  type SweepSpec,
  type SweepView,
} from '../../shared/sweep.js';
import { DEFAULT_KD, DEFAULT_LOSS, recipe } from '../../shared/train-config.js';

const spec = (over: Partial<SweepSpec> = {}): SweepSpec => ({
  data: { path: 'synthetic', settings: {}, limitTrain: null, limitVal: null },
  model: { arch: 'resnet18', stem: 'cifar', inputSize: 12, channels: 1, classes: 3, width: 0.125, compressFirstStage: false },
  modes: ['standard', 'small', 'kd', 'an'],
  alphas: [2, 4],
  seeds: [0, 1, 2],
  epochs: 2,
  batchSize: 16,
  ...recipe('cifar'),
  loss: DEFAULT_LOSS,
  smallCes: [0, 1],
  kd: { ...DEFAULT_KD },
  checkpointEvery: 1,
  ...over,
});

describe('sweep grid', () => {
  it('has a standard run per seed and per α and seed a small, a kd and one an run per β', () => {
    const cells = expandGrid(spec());
    // 3 seeds × (1 standard + 2 α × (small + kd + 2 an)) = 27
    expect(cells).toHaveLength(27);
    expect(new Set(cells.map((c) => c.key)).size).toBe(27);
    expect(cells.filter((c) => c.mode === 'standard').map((c) => c.alpha)).toEqual([null, null, null]);
    expect(cells.filter((c) => c.mode === 'an' && c.seed === 1).map((c) => [c.alpha, c.beta])).toEqual([
      [2, 0],
      [2, 1],
      [4, 0],
      [4, 1],
    ]);
    expect(cells.find((c) => c.key === 'kd-a4-s2')).toMatchObject({ mode: 'kd', alpha: 4, beta: null, seed: 2 });
  });

  it('gives each kd cell the standard run of its own seed as teacher, and each an cell its β', () => {
    const s = spec();
    const kd = expandGrid(s).find((c) => c.key === 'kd-a2-s1')!;
    expect(teacherKey(kd)).toBe('standard-s1');
    expect(cellConfig(s, kd, { network: 'n', runId: 7 })).toMatchObject({ mode: 'kd', kd: { teacher: 'n', teacherRun: 7, temperature: 4, weight: 0.9 } });
    const an = expandGrid(s).find((c) => c.key === 'an-a4-b1-s0')!;
    expect(cellConfig(s, an)).toMatchObject({ mode: 'an', alpha: 4, seed: 0, loss: { smallCe: 1 } });
  });

  it.each([
    [{ modes: ['small', 'kd'] }, /kd runs are taught by the standard run/],
    [{ seeds: [0, 0] }, /seed values repeat: 0, 0/],
    [{ seeds: [] }, /at least one seed/],
    [{ alphas: [3] }, /α must be one of/],
    [{ modes: ['an', 'fast'] }, /unknown mode 'fast'/],
    [{ epochs: 0 }, /epochs must be an integer/],
  ] as Array<[Partial<SweepSpec>, RegExp]>)('refuses %j', (over, message) => {
    expect(() => validateSweepSpec(spec(over))).toThrow(message);
  });

  it('needs no α when it only trains standard runs', () => {
    expect(expandGrid(validateSweepSpec(spec({ modes: ['standard'], alphas: [] })))).toHaveLength(3);
  });
});

describe('sweep statistics', () => {
  it('takes the mean and the sample standard deviation (n − 1)', () => {
    // 0.8, 0.9, 1.0: mean 0.9, squared deviations 0.01 + 0 + 0.01 over 2 → sd 0.1.
    const m = meanStd([0.8, 0.9, 1.0])!;
    expect(m.mean).toBeCloseTo(0.9, 12);
    expect(m.std).toBeCloseTo(0.1, 12);
    expect(m.n).toBe(3);
    expect(meanStd([0.5])).toEqual({ mean: 0.5, std: null, n: 1 });
    expect(meanStd([])).toBeNull();
  });

  const cell = (mode: SweepCell['mode'], alpha: number | null, seed: number): SweepCell => ({
    key: `${mode}-${alpha}-${seed}`,
    mode,
    alpha,
    beta: mode === 'an' ? 0 : null,
    seed,
  });
  const result = (c: SweepCell, full: number | null, small: number | null, seconds: number): CellResult => ({
    cell: c,
    runId: c.seed,
    full,
    small,
    fullCost: full === null ? null : { params: 1000, macs: 8000 },
    smallCost: small === null ? null : { params: 1000 / (c.alpha ?? 1), macs: 8000 / (c.alpha ?? 1) },
    seconds,
  });
  const results = [
    result(cell('standard', null, 0), 0.9, null, 10),
    result(cell('standard', null, 1), 0.92, null, 12),
    result(cell('an', 4, 0), 0.88, 0.84, 20),
    result(cell('an', 4, 1), 0.9, 0.86, 22),
    result(cell('small', 4, 0), null, 0.8, 5),
  ];

  it('groups runs by configuration over their seeds', () => {
    const stats = summarize(results);
    expect(stats.map((s) => s.label)).toEqual(['standard', 'an α=4', 'small α=4']);
    const an = stats[1]!;
    expect(an.seeds).toEqual([0, 1]);
    expect(an.fullAccuracy!.mean).toBeCloseTo(0.89, 12);
    // Two values 0.84, 0.86: sd = |0.86 − 0.84| / √2.
    expect(an.smallAccuracy!.std).toBeCloseTo(0.02 / Math.SQRT2, 12);
    expect(an.seconds!.mean).toBe(21);
    expect(stats[0]!.smallAccuracy).toBeNull();
    expect(stats[2]!.fullAccuracy).toBeNull();
  });

  it('ships the small network of compressed configurations, the full one of standard runs, and keeps the Pareto front', () => {
    const points = shippedPoints(summarize(results));
    expect(points.map((p) => [p.label, p.macs])).toEqual([
      ['standard', 8000],
      ['an α=4', 2000],
      ['small α=4', 2000],
    ]);
    // small α=4 has the same MACs as an α=4 but lower accuracy, so it is dominated.
    expect(paretoFront(points).map((p) => p.label)).toEqual(['an α=4', 'standard']);
    // A cheaper point that is no more accurate than a cheaper one is off the front.
    const front = paretoFront([
      { macs: 1, accuracy: { mean: 0.5 } },
      { macs: 2, accuracy: { mean: 0.4 } },
      { macs: 3, accuracy: { mean: 0.7 } },
    ]);
    expect(front.map((p) => p.macs)).toEqual([1, 3]);
  });

  it('writes a table with mean ± sd in percent, a CSV with raw values, and a plot with every point', () => {
    const stats = summarize(results);
    const md = statsMarkdown(stats);
    expect(md).toContain('| an α=4 | 2 | 89.00 ± 1.41 | 85.00 ± 1.41 | 250 | 2.0K | 1.0K | 8.0K | 21 ± 1 |');
    expect(md).toContain('| small α=4 | 1 | – | 80.00 |');
    const csv = statsCsv(stats).split('\n');
    expect(csv[0]).toMatch(/^configuration,mode,alpha,beta,seeds,full_mean/);
    expect(csv[2]!.split(',').slice(0, 6)).toEqual(['"an α=4"', 'an', '4', '0', '2', '0.89']);
    const svg = sweepPlotSvg(shippedPoints(stats), { title: 'a <test>' });
    expect(svg).toContain('a &lt;test&gt;');
    expect(svg.match(/<circle cx="[\d.]+" cy=/g)).toHaveLength(3);
    // The front joins its two points; the dominated one is drawn hollow.
    expect(svg).toMatch(/<path d="M[\d.,]+ L[\d.,]+"/);
    expect(svg.match(/fill="#ffffff" stroke="#1b6ca8"/g)).toHaveLength(1);
  });
});

describe('combining sweeps', () => {
  const cell = (mode: SweepCell['mode'], alpha: number | null, seed: number): SweepCell => ({ key: `${mode}-${alpha}-${seed}`, mode, alpha, beta: null, seed });
  const view = (sweepId: number, over: Partial<SweepSpec>, results: CellResult[]): SweepView => ({
    sweepId,
    status: 'finished',
    createdAt: 0,
    finishedAt: 1,
    spec: spec(over),
    queue: null,
    cells: [],
    results,
    stats: summarize(results),
  });
  const run = (c: SweepCell, small: number, macs: number): CellResult => ({
    cell: c,
    runId: c.seed,
    full: null,
    small,
    fullCost: null,
    smallCost: { params: 10, macs },
    seconds: 1,
  });
  const mobilenet = { arch: 'mobilenetv2', stem: 'cifar', inputSize: 12, channels: 1, classes: 3, width: 0.55, compressFirstStage: false } as const;

  it('pools the seeds of sweeps over the same network into one row per configuration', () => {
    const { stats } = combineSweeps([view(1, {}, [run(cell('small', 4, 0), 0.8, 100)]), view(2, {}, [run(cell('small', 4, 1), 0.9, 100)])]);
    expect(stats.map((s) => [s.label, s.seeds])).toEqual([['small α=4', [0, 1]]]);
  });

  it('keeps the configurations of another network apart, each label naming its network, and plots them on one front', () => {
    const { stats } = combineSweeps([
      view(1, {}, [run(cell('small', 4, 0), 0.8, 100)]),
      view(2, { model: mobilenet }, [run(cell('small', 4, 0), 0.85, 60), run(cell('small', 4, 1), 0.87, 60)]),
    ]);
    expect(stats.map((s) => [s.label, s.seeds.length])).toEqual([
      ['resnet18 w0.125 · small α=4', 1],
      ['mobilenetv2 w0.55 · small α=4', 2],
    ]);
    expect(new Set(stats.map((s) => s.key)).size).toBe(2);
    // Cheaper and more accurate: MobileNetV2's point alone is on the front.
    expect(paretoFront(shippedPoints(stats)).map((p) => p.label)).toEqual(['mobilenetv2 w0.55 · small α=4']);
  });

  it('names the recipe where the recipes differ, and refuses sweeps over other data or of another length', () => {
    const { stats } = combineSweeps([view(1, {}, [run(cell('small', 4, 0), 0.8, 100)]), view(2, recipe('short'), [run(cell('small', 4, 0), 0.82, 100)])]);
    expect(stats.map((s) => s.label)).toEqual(['sgd, multistep schedule · small α=4', 'sgd, onecycle schedule · small α=4']);
    expect(() => combineSweeps([view(1, {}, []), view(2, { epochs: 3 }, [])])).toThrow(
      /sweeps 1 and 2 differ in epochs; only sweeps of the same data and run length combine/,
    );
  });
});

describe('laying out the plot', () => {
  const at = (key: string, x: number, y: number): { key: string; x: number; y: number } => ({ key, x, y });

  it('spreads points of equal cost side by side, highest first, and keeps their labels a line apart', () => {
    // Three configurations at one cost, two of them 2 px apart in accuracy; one elsewhere.
    const points = [at('kd', 100, 200), at('an', 100.5, 202), at('small', 99.8, 150), at('standard', 600, 120)];
    const placed = dodge(
      points,
      (p) => p.x,
      (p) => p.y,
      500,
    );
    const x = (k: string): number => placed.get(k)!.point.x;
    expect([x('small'), x('kd'), x('an')]).toEqual([100.1 - 14, 100.1, 100.1 + 14].map((v) => expect.closeTo(v, 9)));
    // Points keep their accuracy; labels move, never closer than 15 px.
    expect(placed.get('an')!.point.y).toBe(202);
    const labels = ['small', 'kd', 'an'].map((k) => placed.get(k)!.label);
    expect(labels.map((l) => l.y)).toEqual([150, 200, 215]);
    for (const l of labels) expect(l.x).toBeCloseTo(100.1 + 14 + 9, 9);
    expect(labels.every((l) => l.anchor === 'start')).toBe(true);
    // A lone point stays where it is; past the limit its label goes to its left.
    expect(placed.get('standard')).toEqual({ point: { x: 600, y: 120 }, label: { x: 591, y: 120, anchor: 'end' } });
  });
});
