import { describe, expect, it } from 'vitest';
import type { ModelConfig } from '../../shared/model/config.js';
import { costReport } from '../../shared/model/cost.js';
import { buildGraph, makeDivisible, type GraphNode, type ModelGraph } from '../../shared/model/graph.js';
import { planSmall } from '../../shared/model/plan.js';
import { count } from '../../shared/model/selection.js';
import { smallNetworkGraph } from '../../shared/model/small-network.js';

const config = (over: Partial<ModelConfig> = {}): ModelConfig => ({
  arch: 'mobilenetv2',
  stem: 'imagenet',
  inputSize: 224,
  channels: 3,
  classes: 1000,
  width: 1,
  compressFirstStage: false,
  ...over,
});

const byName = (g: ModelGraph, name: string): GraphNode => {
  const n = g.nodes.find((node) => node.name === name);
  if (n === undefined) throw new Error(`no node ${name}`);
  return n;
};

describe('MobileNetV2', () => {
  it("has torchvision's 3,504,872 parameters and 300,774,272 multiply-adds at 224×224×3, 1000 classes", () => {
    const r = costReport(buildGraph(config()));
    expect(r.full).toEqual({ params: 3_504_872, macs: 300_774_272 });
  });

  it("rounds channels as torchvision's _make_divisible does", () => {
    // Hand-computed: nearest multiple of 8, at least 8, bumped up when rounding lost more than 10 %.
    expect([32, 11.2, 8.8, 17.6, 18, 4, 1280, 1792].map((v) => makeDivisible(v))).toEqual([32, 16, 8, 16, 24, 8, 1280, 1792]);
    // Width 0.35: the stem 32·0.35 = 11.2 → 16, the first stage 16·0.35 = 5.6 → 8, the last conv stays 1280.
    const g = buildGraph(config({ width: 0.35 }));
    expect(byName(g, 'stem.conv').shape.c).toBe(16);
    expect(byName(g, 's1.b1.project').shape.c).toBe(8);
    expect(byName(g, 's2.b1.expand').shape.c).toBe(48);
    expect(byName(g, 'head.conv').shape.c).toBe(1280);
    // Above width 1 the last conv widens too: 1280·1.4 = 1792.
    expect(byName(buildGraph(config({ width: 1.4 })), 'head.conv').shape.c).toBe(1792);
  });

  it('is built of inverted residual blocks: expansion, depthwise, linear projection, residual where stride 1 and shapes match', () => {
    const g = buildGraph(config());
    const ops = (prefix: string): string[] => g.nodes.filter((n) => n.name.startsWith(`${prefix}.`)).map((n) => n.op);
    expect(ops('s1.b1')).toEqual(['dwconv', 'bn', 'relu6', 'conv', 'bn']);
    expect(ops('s2.b1')).toEqual(['conv', 'bn', 'relu6', 'dwconv', 'bn', 'relu6', 'conv', 'bn']);
    expect(ops('s2.b2')).toEqual(['conv', 'bn', 'relu6', 'dwconv', 'bn', 'relu6', 'conv', 'bn', 'add']);
    // torchvision's residual blocks: the second and later block of every stage of more than one block.
    const adds = g.nodes.filter((n) => n.op === 'add').map((n) => n.name.slice(0, -'.add'.length));
    expect(adds).toEqual(['s2.b2', 's3.b2', 's3.b3', 's4.b2', 's4.b3', 's4.b4', 's5.b2', 's5.b3', 's6.b2', 's6.b3']);
    expect(g.nodes.filter((n) => n.op === 'dwconv')).toHaveLength(17);
    // No ReLU after a projection, a ReLU6 after every other batch norm.
    for (const n of g.nodes) {
      if (n.op !== 'bn') continue;
      const next = g.nodes.find((m) => 'input' in m && m.input === n.id);
      expect(next?.op === 'relu6', n.name).toBe(!n.name.includes('.project.'));
    }
    expect(byName(g, 'head.conv').shape).toEqual({ h: 7, w: 7, c: 1280 });
  });

  it('with the CIFAR stem runs the stem and the first stride-2 stage at stride 1 (28×28 reaches the last stage at 4×4)', () => {
    const g = buildGraph(config({ stem: 'cifar', inputSize: 28, channels: 1, classes: 10 }));
    expect(byName(g, 'stem.conv')).toMatchObject({ stride: 1, shape: { h: 28, w: 28 } });
    expect(byName(g, 's2.b1.dw')).toMatchObject({ stride: 1, shape: { h: 28, w: 28 } });
    expect(byName(g, 's3.b1.dw')).toMatchObject({ stride: 2, shape: { h: 14, w: 14 } });
    expect(byName(g, 'head.conv').shape).toEqual({ h: 4, w: 4, c: 1280 });
    const imagenet = buildGraph(config({ inputSize: 32 }));
    expect(byName(imagenet, 'stem.conv')).toMatchObject({ stride: 2, shape: { h: 16, w: 16 } });
    expect(byName(imagenet, 'head.conv').shape).toEqual({ h: 1, w: 1, c: 1280 });
  });

  it('slices by α the expansions, the projections and the last conv; the depthwise convs keep their expansion’s channels', () => {
    const g = buildGraph(config({ stem: 'cifar', inputSize: 32, classes: 10, width: 0.5 }));
    const plan = planSmall(g, 4);
    const width = (name: string): number => count(plan.sel[byName(g, name).id]!);
    // Stem and first stage full (the authors' default), both paths.
    expect(width('stem.conv')).toBe(16);
    expect(width('s1.b1.dw')).toBe(16);
    expect(width('s1.b1.project')).toBe(8);
    // s2: expansion 8·6 = 48 → 12, its depthwise conv the same 12, projection 16 → 4.
    expect(width('s2.b1.expand')).toBe(12);
    expect(width('s2.b1.dw')).toBe(12);
    expect(width('s2.b1.project')).toBe(4);
    // The second block's expansion reads the sliced projection: 4 inputs, (16·6)/4 = 24 outputs.
    expect(width('s2.b1.project.bn')).toBe(4);
    expect(width('s2.b2.expand')).toBe(24);
    expect(width('head.conv')).toBe(320);
    // Its cost: the depthwise conv's 3·3·12 weights and 3·3·12·32·32 multiply-adds.
    const dw = costReport(g, 4).layers.find((l) => l.name === 's2.b1.dw')!;
    expect(dw.small).toEqual({ params: 9 * 12, macs: 9 * 12 * 32 * 32 });
    expect(dw.full).toEqual({ params: 9 * 48, macs: 9 * 48 * 32 * 32 });
  });

  it('has one width group per expansion, one per stage for the projections its residual adds tie, and one for the last conv', () => {
    const g = buildGraph(config());
    const stages = ['s2.out', 's3.out', 's4.out', 's5.out', 's6.out', 's7.out'];
    expect(g.groups.filter((x) => x.endsWith('.out'))).toEqual(stages);
    expect(g.groups.filter((x) => x.endsWith('.expand'))).toHaveLength(16);
    expect(g.groups.at(-1)).toBe('head.conv');
    expect(g.groups).toHaveLength(16 + 6 + 1);
    // Every projection of a stage is in the stage's group: the adds join equal widths.
    for (const n of g.nodes)
      if (n.op === 'conv' && n.name.endsWith('.project') && !n.name.startsWith('s1.')) expect(n.group).toBe(`${n.name.split('.')[0]}.out`);
    // Compressing the first stage adds its projection's group.
    expect(buildGraph(config({ compressFirstStage: true })).groups).toContain('s1.out');
  });

  it('as a small network of its own is a plain MobileNetV2 of the small widths, for a different α in every width group', () => {
    const g = buildGraph(config({ stem: 'cifar', inputSize: 32, classes: 10, width: 0.5 }));
    const choices = [1, 2, 4, 8];
    const alphas = Object.fromEntries(g.groups.map((group, i) => [group, choices[i % choices.length]!]));
    const plan = planSmall(g, alphas);
    const small = smallNetworkGraph(g, plan);
    expect(small.nodes.map((n) => n.op)).toEqual(g.nodes.map((n) => n.op));
    expect(small.groups).toEqual([]);
    for (const n of small.nodes) expect(n.shape.c, n.name).toBe(count(plan.sel[n.id]!));
    expect(costReport(small).full).toEqual(costReport(g, alphas).small);
  });

  it('adds a residual wherever a block keeps stride 1 and its width, as torchvision does, even the first of a stage', () => {
    // Width 0.35 with the CIFAR stem: s1 ends with makeDivisible(5.6) = 8 channels and s2 starts with
    // makeDivisible(8.4) = 8 at stride 1, so s2.b1 has a shortcut from the full-width first stage.
    const g = buildGraph(config({ stem: 'cifar', inputSize: 28, channels: 1, classes: 10, width: 0.35 }));
    const add = byName(g, 's2.b1.add');
    expect(add.op === 'add' && add.inputs.map((i) => g.nodes[i]!.name)).toEqual(['s2.b1.project.bn', 's1.b1.project.bn']);
    // Its small network keeps the shortcut's leading channels, as a compressed ResNet stage does.
    const small = smallNetworkGraph(g, planSmall(g, 4));
    expect(byName(small, 's2.b1.add.shortcut')).toMatchObject({ op: 'slice', shape: { c: 2 } });
  });

  it('refuses an α that leaves a layer without channels, naming it', () => {
    const g = buildGraph(config({ stem: 'cifar', inputSize: 32, classes: 10, width: 0.25 }));
    // s2's projection has makeDivisible(24·0.25) = 8 channels: 8 / 16 is none.
    expect(() => planSmall(g, 16)).toThrow(/layer s2\.b1\.project with 0 channels/);
  });
});
