import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../main/engine/backend.js';
import { synthesize } from '../../main/engine/data/synthetic.js';
import { Rng } from '../../main/engine/rng.js';
import { prepareTraining, trainStep } from '../../main/engine/train.js';
import { DEFAULT_LOSS, recipe, trainConfigOf, type TrainConfig } from '../../shared/train-config.js';
import { benchModel, describeModel } from './bench-model.js';
import { pairedCpuRatio, round, sideBySide, softwareNote, trainingPlan, type BenchArgs } from './measure.js';

/**
 * One training step of the standard network vs one adjoined step (α = 4),
 * same backend, model and batch, measured side by side (ResNet-18, or
 * `--arch`'s network). `mac_bound` is what the adjoined step would cost if
 * time followed MACs: 1 + small / full. `an_over_standard_cpu` is the
 * median of the rounds' CPU-time ratios (one step of each, back to back),
 * which a shared machine's load moves far less than the wall-clock medians.
 * `kernels` (wasm and cpu) says where the adjoined step's extra time goes,
 * kernel family by family.
 */
export async function stepCost(args: BenchArgs): Promise<Record<string, unknown>> {
  const backend = await initBackend(args.backend);
  const plan = trainingPlan(backend, args, 10, 2);
  const { batch } = plan;
  const model = benchModel(args.arch);
  const data = synthesize({ classes: 10, size: 28, channels: 1, train: batch, val: 10, seed: 0 });
  const configFor = (mode: 'standard' | 'an'): TrainConfig =>
    trainConfigOf({ model, epochs: 1, batchSize: batch, ...recipe('cifar'), loss: DEFAULT_LOSS, seed: 0, checkpointEvery: 1 }, mode, mode === 'an' ? 4 : null);
  const standard = prepareTraining(configFor('standard'), data, new Rng(1));
  const an = prepareTraining(configFor('an'), data, new Rng(1));
  const b = standard.batches.build(
    data.train,
    Array.from({ length: batch }, (_, i) => i),
    true,
    new Rng(2),
  );
  const x = tf.tensor4d(b.x, [batch, 28, 28, 1]);
  const y = tf.tensor1d(b.y, 'int32');
  const rates = { lr: 0.01, momentum: null };
  // Mid-training progress: λ > 0, so the adjoined step pays for its KL term.
  const timed = await sideBySide(
    {
      standard: async () => void (await trainStep(standard, x, y, 0.5, rates)),
      an: async () => void (await trainStep(an, x, y, 0.5, rates)),
    },
    { warmup: plan.warmup, rounds: plan.rounds },
  );
  const ms = timed.wall;
  const macBound = 1 + an.cost.small!.macs / an.cost.full.macs;
  const ratio = ms['an']! / ms['standard']!;
  // Where the adjoined step's extra time goes: kernel time by family, one profiled step of each.
  const profiled =
    backend.kind === 'wasm' || backend.kind === 'cpu'
      ? await kernelFamilies({ standard: () => trainStep(standard, x, y, 0.5, rates), an: () => trainStep(an, x, y, 0.5, rates) })
      : null;
  return {
    benchmark: 'step-cost',
    standard_step_ms: round(ms['standard']!, 1),
    an_step_ms: round(ms['an']!, 1),
    an_over_standard: round(ratio),
    mac_bound: round(macBound),
    within_15pct_of_mac_bound: Math.abs(ratio / macBound - 1) <= 0.15,
    // The same ratio from CPU time, round by round: what a shared machine's load moves least.
    an_over_standard_cpu: round(pairedCpuRatio(timed, 'an', 'standard')),
    backend: backend.kind,
    device: backend.device,
    ...softwareNote(backend),
    images_per_s_standard: round((1000 * batch) / ms['standard']!, 1),
    images_per_s_an: round((1000 * batch) / ms['an']!, 1),
    kernels: profiled,
    model: describeModel(model, `batch ${batch}, α=4`),
  };
}

type Family = 'convolution' | 'depthwise' | 'batch_norm' | 'updates' | 'other';

function familyOf(kernel: string): Family {
  if (kernel.startsWith('Depthwise')) return 'depthwise';
  if (kernel.startsWith('Conv2D')) return 'convolution';
  if (kernel.startsWith('AdjoinBatchNorm')) return 'batch_norm';
  if (kernel === 'AdjoinSgdUpdate' || kernel === 'AdjoinAdamUpdate' || kernel === 'AdjoinRunningStatsUpdate') return 'updates';
  return 'other';
}

/**
 * Three profiled steps of each variant, side by side (tf.profile: the CPU's
 * own time per kernel on wasm and cpu), each family's least time of the
 * three (the one least disturbed by a shared machine): kernel calls, kernel
 * time by family, and the adjoined step's extra time per family. The rest of
 * a step (`*_step_ms` minus `ms`) is tfjs's per-call work and ours outside kernels.
 */
async function kernelFamilies(steps: Record<'standard' | 'an', () => Promise<unknown>>): Promise<Record<string, unknown>> {
  const families = (): Record<Family, number> => ({ convolution: Infinity, depthwise: Infinity, batch_norm: Infinity, updates: Infinity, other: Infinity });
  const least = { standard: { calls: 0, by: families() }, an: { calls: 0, by: families() } };
  for (let round = 0; round < 3; round++) {
    for (const variant of ['standard', 'an'] as const) {
      const profile = await tf.profile(async () => void (await steps[variant]()));
      const by: Record<Family, number> = { convolution: 0, depthwise: 0, batch_norm: 0, updates: 0, other: 0 };
      for (const k of profile.kernels) by[familyOf(k.name)] += k.kernelTimeMs as number;
      least[variant].calls = profile.kernels.length;
      for (const f of Object.keys(by) as Family[]) least[variant].by[f] = Math.min(least[variant].by[f], by[f]);
    }
  }
  const summary = ({ calls, by }: { calls: number; by: Record<Family, number> }): Record<string, number> => ({
    calls,
    ms: round(
      Object.values(by).reduce((a, b) => a + b, 0),
      1,
    ),
    ...Object.fromEntries(Object.entries(by).map(([k, v]) => [k, round(v, 1)])),
  });
  const extra = Object.fromEntries((Object.keys(least.an.by) as Family[]).map((f) => [f, round(least.an.by[f] - least.standard.by[f], 1)]));
  return { standard: summary(least.standard), an: summary(least.an), an_extra_ms: extra };
}
