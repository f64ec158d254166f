import type { LatencyReport } from '../../shared/export.js';
import type { ModelSession } from './formats/exporter.js';

export interface LatencyOptions {
  warmup?: number;
  runs?: number;
}

export const DEFAULT_LATENCY: Required<LatencyOptions> = { warmup: 5, runs: 30 };

export function median(values: readonly number[]): number {
  const v = [...values].sort((a, b) => a - b);
  const mid = Math.floor(v.length / 2);
  return v.length % 2 === 1 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

/**
 * Batch-1 latency of models open in one runtime, each with one thread (a
 * phone runs one model on one core or few, and on a shared desktop a single
 * thread gives figures that repeat): the median of `runs` timed inferences
 * after `warmup` untimed ones. The models are timed round-robin, so a slow
 * phase of the machine hits all of them alike and their ratios (the
 * speed-ups) stay fair.
 */
export async function measureLatency(
  sessions: Readonly<Record<string, ModelSession>>,
  runtime: string,
  options: LatencyOptions = {},
): Promise<Record<string, LatencyReport>> {
  const { warmup, runs } = { ...DEFAULT_LATENCY, ...options };
  const names = Object.keys(sessions);
  const times = new Map<string, number[]>(names.map((n) => [n, []]));
  for (let r = 0; r < warmup + runs; r++) {
    for (const name of names) {
      const t0 = performance.now();
      await sessions[name]!.runOnce();
      const dt = performance.now() - t0;
      if (r >= warmup) times.get(name)!.push(dt);
    }
  }
  return Object.fromEntries(names.map((n) => [n, { medianMs: median(times.get(n)!), runs, warmup, threads: 1, runtime: `${runtime} (CPU, 1 thread)` }]));
}
