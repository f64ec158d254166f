import ort from 'onnxruntime-node';
import type { LatencyReport } from '../../shared/export.js';
import { ONNX_INPUT } from './onnx-model.js';

export interface LatencyOptions {
  warmup?: number;
  runs?: number;
}

export const DEFAULT_LATENCY: Required<LatencyOptions> = { warmup: 5, runs: 30 };

function median(values: readonly number[]): number {
  const v = [...values].sort((a, b) => a - b);
  const mid = Math.floor(v.length / 2);
  return v.length % 2 === 1 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

/**
 * Batch-1 CPU latency of ONNX models in onnxruntime-node: the median of
 * `runs` timed inferences after `warmup` untimed ones. One intra-op and one
 * inter-op thread: a phone runs one model on one core or few, and on a
 * shared desktop a single thread gives figures that repeat. The models are
 * timed round-robin, so a slow phase of the machine hits all of them alike
 * and their ratio (the speed-up) stays fair.
 */
export async function measureLatency(
  models: Readonly<Record<string, Uint8Array>>,
  inputShape: readonly [number, number, number],
  options: LatencyOptions = {},
): Promise<Record<string, LatencyReport>> {
  const { warmup, runs } = { ...DEFAULT_LATENCY, ...options };
  const [c, h, w] = inputShape;
  const x = new Float32Array(c * h * w);
  // Any input will do for timing; a fixed pattern keeps it deterministic.
  for (let i = 0; i < x.length; i++) x[i] = Math.sin(i * 0.37);
  const feeds = { [ONNX_INPUT]: new ort.Tensor('float32', x, [1, c, h, w]) };
  const names = Object.keys(models);
  const sessions = new Map<string, ort.InferenceSession>();
  try {
    for (const name of names) {
      sessions.set(
        name,
        await ort.InferenceSession.create(models[name]!, {
          intraOpNumThreads: 1,
          interOpNumThreads: 1,
          executionMode: 'sequential',
          graphOptimizationLevel: 'all',
        }),
      );
    }
    const times = new Map<string, number[]>(names.map((n) => [n, []]));
    for (let r = 0; r < warmup + runs; r++) {
      for (const name of names) {
        const t0 = performance.now();
        await sessions.get(name)!.run(feeds);
        const dt = performance.now() - t0;
        if (r >= warmup) times.get(name)!.push(dt);
      }
    }
    const runtime = `onnxruntime-node ${ort.env.versions.node ?? ort.env.versions.common} (CPU, 1 thread)`;
    return Object.fromEntries(names.map((n) => [n, { medianMs: median(times.get(n)!), runs, warmup, threads: 1, runtime }]));
  } finally {
    for (const s of sessions.values()) await s.release();
  }
}
