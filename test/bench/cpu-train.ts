import * as tf from '@tensorflow/tfjs';
import { availableParallelism } from 'node:os';
import { initBackend } from '../../main/engine/backend.js';
import { synthesize } from '../../main/engine/data/synthetic.js';
import { Replicas, shardedStep, trainWorkers } from '../../main/engine/parallel/replicas.js';
import { Rng } from '../../main/engine/rng.js';
import { prepareTraining, trainStep, type TrainingSetup } from '../../main/engine/train.js';
import { DEFAULT_LOSS, recipe, type TrainConfig } from '../../shared/train-config.js';
import { benchModel, describeModel } from './bench-model.js';
import { interleaved, round, softwareNote, trainingPlan, type BenchArgs } from './measure.js';

/**
 * Training throughput on the CPU (issue 8): ResNet-18 (or `--arch`'s
 * network, see bench-model.ts), CIFAR stem, 28×28×1, batch 64, standard
 * training — one optimisation step on one engine and on every core's engine
 * (data-parallel), timed side by side in one run. `profile_top` is where one
 * single-engine step spends its time.
 */
export async function cpuTrain(args: BenchArgs): Promise<Record<string, unknown>> {
  const backend = await initBackend(args.backend);
  const plan = trainingPlan(backend, args, 12, 3);
  const { batch } = plan;
  const size = 28;
  const model = benchModel(args.arch);
  const data = synthesize({ classes: 10, size, channels: 1, train: batch * 4, val: 10, seed: 0 });
  const config: TrainConfig = {
    model,
    mode: 'standard',
    alpha: null,
    epochs: 1,
    batchSize: batch,
    ...recipe('cifar'),
    loss: DEFAULT_LOSS,
    seed: 0,
    checkpointEvery: 1,
  };
  const workers = trainWorkers(backend.kind, availableParallelism());
  const single = prepareTraining(config, data, new Rng(1));
  const parallel = prepareTraining(config, data, new Rng(1));
  const replicas =
    workers > 1
      ? await Replicas.start({
          count: workers,
          backend: backend.kind,
          task: { kind: 'train', config },
          variables: parallel.params.all(),
          optimizers: [parallel.optimizer],
          imageSize: size * size,
        })
      : null;
  const indices = Array.from({ length: batch }, (_, i) => i);
  const rng = new Rng(2);
  // Each step builds its batch (augmentation included), as the training loop does.
  const rates = { lr: 0.01, momentum: null };
  const stepOn = async (setup: TrainingSetup, r: Replicas | null): Promise<void> => {
    const b = setup.batches.build(setup.train, indices, true, rng);
    await shardedStep(r, b, batch, [size, size, 1], { progress: 0.5, rates, tau: null, noise: null }, (x, y, shard) =>
      trainStep(setup, x, y, 0.5, rates, shard),
    );
  };
  try {
    // With one engine (a GPU, a native backend, one core) both would be the same engine: it is measured once.
    const variants: Record<string, () => Promise<void>> = { one: () => stepOn(single, null) };
    if (replicas !== null) variants['all'] = () => stepOn(parallel, replicas);
    const ms = await interleaved(variants, { warmup: plan.warmup, rounds: plan.rounds });
    ms['all'] ??= ms['one']!;
    // Kernel times are the CPU's own on wasm and cpu; a GPU's come from timestamp queries, when it has them at all.
    let top: Array<[string, number]> | null = null;
    if (backend.kind === 'wasm' || backend.kind === 'cpu' || backend.kind === 'node') {
      const profile = await tf.profile(() => stepOn(single, null));
      const byKernel = new Map<string, number>();
      for (const k of profile.kernels) byKernel.set(k.name, (byKernel.get(k.name) ?? 0) + (k.kernelTimeMs as number));
      top = [...byKernel].sort((a, b) => b[1] - a[1]).slice(0, 8);
    }
    return {
      benchmark: 'cpu-train',
      images_per_s: round((1000 * batch) / ms['all']!, 1),
      workers: replicas?.count ?? 1,
      step_ms: round(ms['all']!, 1),
      images_per_s_one_worker: round((1000 * batch) / ms['one']!, 1),
      step_ms_one_worker: round(ms['one']!, 1),
      speedup: round(ms['one']! / ms['all']!),
      profile_top: top === null ? null : top.map(([kernel, t]) => ({ kernel, ms: round(t, 1) })),
      backend: backend.kind,
      device: backend.device,
      ...softwareNote(backend),
      model: describeModel(model, `batch ${batch}, standard`),
    };
  } finally {
    await replicas?.stop();
  }
}
