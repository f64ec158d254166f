import * as tf from '@tensorflow/tfjs';
import { budgetedSearch, DEFAULT_ARCH_LR, DEFAULT_TAU } from '../../shared/dan.js';
import { DEFAULT_LOSS, recipe } from '../../shared/train-config.js';
import type { ModelConfig } from '../../shared/model/config.js';
import { initBackend } from '../../main/engine/backend.js';
import { synthesize } from '../../main/engine/data/synthetic.js';
import { prepareSearch, searchStep } from '../../main/engine/dan/search.js';
import { Rng } from '../../main/engine/rng.js';
import { prepareTraining, trainStep } from '../../main/engine/train.js';
import { interleaved, round, type BenchArgs } from './measure.js';

/**
 * One DAN search step over A = {1, 2, 4, 8, 16} vs one standard step of the
 * same model and batch, side by side. The super-network runs one full path
 * and one soft-masked path: about 2×; a per-candidate implementation would
 * run six convolutions per layer. A budgeted search (issue 15) takes, after
 * its warm-up, a weight step and an η step on a held-out batch of the same
 * size: `budgeted` is that pair, the cost of one of its steps past the
 * warm-up (a warm-up step costs about a standard search step less η).
 */
export async function searchCost(args: BenchArgs): Promise<Record<string, unknown>> {
  const backend = await initBackend(args.backend);
  const batch = 64;
  const model: ModelConfig = { arch: 'resnet18', stem: 'cifar', inputSize: 28, channels: 1, classes: 10, width: 0.25, compressFirstStage: false };
  const data = synthesize({ classes: 10, size: 28, channels: 1, train: batch, val: 10, seed: 0 });
  const base = { epochs: 1, batchSize: batch, ...recipe('cifar'), loss: DEFAULT_LOSS, seed: 0, checkpointEvery: 1 };
  const standard = prepareTraining({ ...base, model, mode: 'standard', alpha: null }, data, new Rng(1));
  const space = [1, 2, 4, 8, 16];
  const paper = { ...base, model, space, gamma: 1, archLr: DEFAULT_ARCH_LR, tau: DEFAULT_TAU, noise: 'fresh' } as const;
  const searching = prepareSearch(paper, data, new Rng(1));
  const budgeted = prepareSearch({ ...paper, ...budgetedSearch(5e6) }, data, new Rng(1), new Rng(4));
  const b = standard.batches.build(
    data.train,
    Array.from({ length: batch }, (_, i) => i),
    true,
    new Rng(2),
  );
  const x = tf.tensor4d(b.x, [batch, 28, 28, 1]);
  const y = tf.tensor1d(b.y, 'int32');
  const noiseRng = new Rng(3);
  const rates = { lr: 0.01, momentum: null };
  const ms = await interleaved(
    {
      standard: async () => void (await trainStep(standard, x, y, 0.5, rates)),
      search: async () => void (await searchStep(searching, x, y, 0.5, rates, 10, searching.space.drawNoise(noiseRng))),
      budgeted: async () => {
        const noise = budgeted.space.drawNoise(noiseRng);
        await searchStep(budgeted, x, y, 0.5, rates, 1, noise, null, { phase: 'weights', etaLr: budgeted.etaLr });
        await searchStep(budgeted, x, y, 0.5, rates, 1, noise, null, { phase: 'eta', etaLr: budgeted.etaLr });
      },
    },
    { warmup: 2, rounds: args.rounds ?? 8 },
  );
  const ratio = ms['search']! / ms['standard']!;
  return {
    benchmark: 'search-cost',
    standard_step_ms: round(ms['standard']!, 1),
    search_step_ms: round(ms['search']!, 1),
    search_over_standard: round(ratio),
    at_most_2_2: ratio <= 2.2,
    budgeted_step_ms: round(ms['budgeted']!, 1),
    budgeted_over_standard: round(ms['budgeted']! / ms['standard']!),
    budgeted_over_search: round(ms['budgeted']! / ms['search']!),
    space,
    groups: searching.space.groups.length,
    backend: backend.kind,
    device: backend.device,
    model: 'resnet18 cifar-stem width 0.25, 28×28×1, 10 classes, batch 64',
  };
}
