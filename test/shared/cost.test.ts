import { describe, expect, it } from 'vitest';
import { type ModelConfig } from '../../shared/model/config.js';
import { costReport } from '../../shared/model/cost.js';
import { buildGraph } from '../../shared/model/graph.js';

const imagenet = (arch: ModelConfig['arch']): ModelConfig => ({
  arch,
  stem: 'imagenet',
  inputSize: 224,
  channels: 3,
  classes: 1000,
  width: 1,
  compressFirstStage: false,
});

describe('cost report against torchvision figures', () => {
  it.each([
    ['resnet18', 11_689_512, 1.81e9],
    ['resnet50', 25_557_032, 4.09e9],
    ['densenet121', 7_978_856, 2.83e9],
  ] as const)('%s at 224×224×3, 1000 classes', (arch, params, macs) => {
    const r = costReport(buildGraph(imagenet(arch)));
    expect(r.full.params).toBe(params);
    expect(Math.abs(r.full.macs - macs) / macs).toBeLessThan(0.02);
    expect(r.small).toBeNull();
  });

  it('sums its layers', () => {
    const r = costReport(buildGraph(imagenet('resnet50')), 4);
    const sum = r.layers.reduce((s, l) => s + l.small!.params, 0);
    expect(sum).toBe(r.small!.params);
  });
});
