import * as tf from '@tensorflow/tfjs';
import { extractSmall, type ExtractedNetwork } from '../../main/engine/extract.js';
import { forward, updateRunningStats } from '../../main/engine/forward.js';
import { createParams, type NetworkParams } from '../../main/engine/params.js';
import { Rng } from '../../main/engine/rng.js';
import type { ExportFile } from '../../main/export/files.js';
import type { Exporter } from '../../main/export/formats/exporter.js';
import { batchFromArray, type VerificationBatch } from '../../main/export/verify.js';
import { ARCHITECTURES, type ModelConfig } from '../../shared/model/config.js';
import { buildGraph, type ModelGraph } from '../../shared/model/graph.js';
import { planSmall, type SmallPlan } from '../../shared/model/plan.js';
import { seeded } from './tf.js';

/** A batch of seeded inputs, about unit scale, as the exporters are checked on; `x` holds them all. */
export function batchOf(config: ModelConfig, n: number, seed: number): VerificationBatch & { x: Float32Array } {
  const { inputSize: s, channels: c } = config;
  const x = seeded(n * s * s * c, seed).map((v) => 2 * v);
  return { ...batchFromArray(x, { n, height: s, width: s, channels: c }), x };
}

/** Moves batch-norm statistics and scales off their initial values, so folding is really exercised. */
export function perturb(graph: ModelGraph, params: NetworkParams, batch: VerificationBatch & { x: Float32Array }, small: SmallPlan | null): void {
  tf.tidy(() => {
    const x = tf.tensor4d(batch.x, [batch.n, batch.height, batch.width, batch.channels]);
    const out = forward(graph, params, x, { training: true, small: small === null ? null : { kind: 'sliced', plan: small } });
    updateRunningStats(params, out.stats, 0.9);
  });
  const rng = new Rng(11);
  for (const [name, v] of params.trainable) {
    if (name.endsWith('.gamma') || name.endsWith('.beta')) {
      tf.tidy(() =>
        v.assign(
          tf.add(
            v,
            tf.tensor(
              Array.from({ length: v.size }, () => 0.3 * rng.normal()),
              v.shape,
            ),
          ),
        ),
      );
    }
  }
}

/** Every architecture at a tiny width, plus the ImageNet stem (padded max-pool) and compressed first stages (Slice), MobileNetV2's included. */
export const ARCHITECTURE_CASES: Array<{ config: ModelConfig; alpha: number }> = [
  ...ARCHITECTURES.map((arch) => ({
    config: { arch, stem: 'cifar', inputSize: 16, channels: 3, classes: 5, width: 0.125, compressFirstStage: false } as ModelConfig,
    alpha: 4,
  })),
  { config: { arch: 'resnet18', stem: 'imagenet', inputSize: 32, channels: 1, classes: 4, width: 0.25, compressFirstStage: true }, alpha: 2 },
  { config: { arch: 'densenet121', stem: 'imagenet', inputSize: 32, channels: 3, classes: 3, width: 0.25, compressFirstStage: true }, alpha: 8 },
  { config: { arch: 'mobilenetv2', stem: 'imagenet', inputSize: 32, channels: 1, classes: 4, width: 0.35, compressFirstStage: true }, alpha: 2 },
];

/** An adjoined network with perturbed statistics, and its extracted small network. */
export function perturbedNetwork(
  config: ModelConfig,
  alpha: number,
  batch: VerificationBatch & { x: Float32Array },
  seed = 3,
): { graph: ModelGraph; plan: SmallPlan; params: NetworkParams; small: ExtractedNetwork; dispose(): void } {
  const graph = buildGraph(config);
  const plan = planSmall(graph, alpha);
  const params = createParams(graph, plan, new Rng(seed));
  perturb(graph, params, batch, plan);
  const small = extractSmall(graph, plan, params);
  return {
    graph,
    plan,
    params,
    small,
    dispose() {
      small.params.dispose();
      params.dispose();
    },
  };
}

/** Logits of model files run by a format's exporter in its own runtime, on the whole batch. */
export async function runExported(
  exporter: Exporter,
  files: ExportFile[],
  batch: VerificationBatch & { x: Float32Array },
  uint8Input: { scale: number; zeroPoint: number } | null = null,
): Promise<Float32Array> {
  const session = await exporter.open(files, { height: batch.height, width: batch.width, channels: batch.channels }, { threads: 1, uint8Input });
  try {
    return await session.logits(batch.x, batch.n);
  } finally {
    await session.release();
  }
}
