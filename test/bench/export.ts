import { initBackend } from '../../main/engine/backend.js';
import { extractSmall } from '../../main/engine/extract.js';
import { createParams } from '../../main/engine/params.js';
import { Rng } from '../../main/engine/rng.js';
import { onnxExporter } from '../../main/export/formats/onnx.js';
import { measureLatency } from '../../main/export/latency.js';
import { plainFull } from '../../main/export/networks.js';
import { toOnnx } from '../../main/export/onnx-model.js';
import { batchFromArray, compareLogits, engineLogits } from '../../main/export/verify.js';
import { costReport } from '../../shared/model/cost.js';
import type { ModelConfig } from '../../shared/model/config.js';
import { buildGraph } from '../../shared/model/graph.js';
import { planSmall } from '../../shared/model/plan.js';
import { exportVariants } from './export-variants.js';
import { round, type BenchArgs } from './measure.js';

/**
 * Today's keys, then the phone variants' (`export-variants.ts`): int8 and
 * TFLite against float32.
 *
 * The paper's table 6 row a_4: ResNet-18 (CIFAR stem, width 1) on 32×32×3
 * images with 100 classes, α = 4. Exports the full and the small network to
 * ONNX (random weights: size and speed do not depend on training), checks
 * both against the engine, and times them batch-1 in onnxruntime-node,
 * round-robin in the same process. `latency_speedup / mac_ratio` says how
 * much of the MAC saving becomes wall-clock saving on a CPU.
 */
export async function exportBench(args: BenchArgs): Promise<Record<string, unknown>> {
  const paper = await paperRow(args);
  return { ...paper, ...(await exportVariants()) };
}

async function paperRow(args: BenchArgs): Promise<Record<string, unknown>> {
  await initBackend(args.backend);
  const config: ModelConfig = { arch: 'resnet18', stem: 'cifar', inputSize: 32, channels: 3, classes: 100, width: 1, compressFirstStage: false };
  const graph = buildGraph(config);
  const plan = planSmall(graph, 4);
  const params = createParams(graph, plan, new Rng(0));
  const small = extractSmall(graph, plan, params);
  const full = plainFull(graph);
  const onnx = { full: await toOnnx(full, params), small: await toOnnx(small.graph, small.params) };

  // The figures are only worth printing for models that compute the right thing.
  const n = 4;
  const rng = new Rng(1);
  const x = Float32Array.from({ length: n * 32 * 32 * 3 }, () => rng.normal());
  const batch = batchFromArray(x, { n, height: 32, width: 32, channels: 3 });
  const shape = { height: 32, width: 32, channels: 3 };
  const open = (data: Uint8Array, threads: number) => onnxExporter.open([{ name: 'model.onnx', data }], shape, { threads, uint8Input: null });
  const logitsOf = async (data: Uint8Array): Promise<Float32Array> => {
    const s = await open(data, 1);
    const out = await s.logits(x, n);
    await s.release();
    return out;
  };
  const agree = {
    full: compareLogits(await engineLogits(graph, params, batch, null), await logitsOf(onnx.full), n),
    small: compareLogits(await engineLogits(graph, params, batch, plan), await logitsOf(onnx.small), n),
  };

  const sessions = { full: await open(onnx.full, 1), small: await open(onnx.small, 1) };
  const latency = await measureLatency(sessions, onnxExporter.runtime, { warmup: 20, runs: args.rounds ?? 200 });
  await sessions.full.release();
  await sessions.small.release();
  const costFull = costReport(full).full;
  const costSmall = costReport(small.graph).full;
  const macRatio = costFull.macs / costSmall.macs;
  const speedup = latency['full']!.medianMs / latency['small']!.medianMs;
  small.params.dispose();
  params.dispose();
  return {
    benchmark: 'export',
    model: 'resnet18 cifar-stem width 1, 32×32×3, 100 classes, α=4 (paper table 6, a_4)',
    full_params: costFull.params,
    full_macs: costFull.macs,
    small_params: costSmall.params,
    small_macs: costSmall.macs,
    full_onnx_bytes: onnx.full.byteLength,
    small_onnx_bytes: onnx.small.byteLength,
    full_latency_ms: round(latency['full']!.medianMs, 3),
    small_latency_ms: round(latency['small']!.medianMs, 3),
    mac_ratio: round(macRatio),
    latency_speedup: round(speedup),
    speedup_over_mac_ratio: round(speedup / macRatio),
    meets_0_7: speedup / macRatio >= 0.7,
    max_abs_logit_diff: Number(Math.max(agree.full.maxAbsLogitDiff, agree.small.maxAbsLogitDiff).toExponential(2)),
    top1_agreement: Math.min(agree.full.top1Agreement, agree.small.top1Agreement),
    latency_runs: latency['full']!.runs,
    runtime: latency['full']!.runtime,
  };
}
