import { costReport, type CostReport } from '../../shared/model/cost.js';
import { ARCHITECTURES, STEMS, validateGlobalAlpha, type ModelConfig } from '../../shared/model/config.js';
import { buildGraph } from '../../shared/model/graph.js';
import { parseSpace } from '../../shared/dan.js';
import { InputError } from '../../shared/errors.js';
import { formatAlphaMap, parseMacs, randomWithinBudget } from '../../shared/search-budget.js';
import { choiceArg, intArg, numberArg, parse } from './args.js';
import type { Command } from './command.js';
import { formatCount } from './format.js';

const COST_USAGE = `adjoin cost --arch resnet50 --stem imagenet --input 224 --channels 3 --classes 1000 [--alpha 4] [--width 1] [--compress-first-stage] [--json]
  Parameters and multiply-adds of the full network and, with --alpha, of its small network.
adjoin cost ... --random-within 8.85M [--space 1,2,4,8,16] [--tolerance 0.02] [--seed 0] [--json]
  A random architecture of the space within ±tolerance of the MACs (α uniform per group, redrawn until it fits),
  printed as the group=α,… that adjoin train --alpha takes: the random baseline of a DAN search.`;

export function costCommand(argv: string[], out: (s: string) => void): number {
  const { values } = parse(argv, {
    arch: { type: 'string' },
    stem: { type: 'string' },
    input: { type: 'string' },
    channels: { type: 'string' },
    classes: { type: 'string' },
    alpha: { type: 'string' },
    width: { type: 'string' },
    'compress-first-stage': { type: 'boolean' },
    json: { type: 'boolean' },
    'random-within': { type: 'string' },
    space: { type: 'string' },
    tolerance: { type: 'string' },
    seed: { type: 'string' },
  });
  const model: ModelConfig = {
    arch: choiceArg(values.arch, 'arch', ARCHITECTURES, 'resnet18'),
    stem: choiceArg(values.stem, 'stem', STEMS, 'imagenet'),
    inputSize: intArg(values.input, 'input', 224),
    channels: intArg(values.channels, 'channels', 3) as 1 | 3,
    classes: intArg(values.classes, 'classes', 1000),
    width: numberArg(values.width, 'width', 1),
    compressFirstStage: values['compress-first-stage'] ?? false,
  };
  if (values['random-within'] !== undefined) {
    if (values.alpha !== undefined) throw new InputError('give --alpha or --random-within, not both', 'alpha');
    const target = parseMacs(values['random-within'], 'random-within');
    const found = randomWithinBudget(
      model,
      parseSpace(values.space ?? '1,2,4,8,16'),
      target,
      numberArg(values.tolerance, 'tolerance', 0.02),
      intArg(values.seed, 'seed', 0),
    );
    out(
      values.json === true
        ? JSON.stringify(found)
        : `${formatAlphaMap(found.alphas)}\n${formatCount(found.macs)} MACs (${((found.macs / target - 1) * 100).toFixed(2)} % from the target)`,
    );
    return 0;
  }
  const alpha = values.alpha === undefined ? null : validateGlobalAlpha(intArg(values.alpha, 'alpha', 0));
  const report = costReport(buildGraph(model), alpha);
  out(values.json === true ? JSON.stringify(report) : renderCost(report));
  return 0;
}

export function renderCost(r: CostReport): string {
  const lines: string[] = [];
  const pad = (s: string, n: number): string => s.padStart(n);
  lines.push(`${'layer'.padEnd(22)}${pad('out', 14)}${pad('params', 12)}${pad('MACs', 12)}${r.small ? pad('small params', 14) + pad('small MACs', 12) : ''}`);
  for (const l of r.layers) {
    if (l.op === 'bn') continue;
    const shape = `${l.output.h}×${l.output.w}×${l.output.c}`;
    lines.push(
      `${l.name.padEnd(22)}${pad(shape, 14)}${pad(formatCount(l.full.params), 12)}${pad(formatCount(l.full.macs), 12)}` +
        (l.small ? pad(formatCount(l.small.params), 14) + pad(formatCount(l.small.macs), 12) : ''),
    );
  }
  lines.push('');
  lines.push(`full:  ${r.full.params.toLocaleString('en-US')} parameters, ${formatCount(r.full.macs)} MACs`);
  if (r.small !== null) {
    lines.push(`small: ${r.small.params.toLocaleString('en-US')} parameters, ${formatCount(r.small.macs)} MACs`);
    lines.push(`       ${(r.full.params / r.small.params).toFixed(1)}× fewer parameters, ${(r.full.macs / r.small.macs).toFixed(1)}× fewer MACs`);
  }
  return lines.join('\n');
}

export const costCmd: Command = { name: 'cost', usage: COST_USAGE, run: (argv, io) => costCommand(argv, io.out) };
