import type { Architecture } from '../../shared/model/config.js';
import type { BackendInfo } from '../../shared/backend.js';

/** What `npm run bench` passes every benchmark: `--rounds N`, `--backend NAME` (as ADJOIN_BACKEND). */
/** What every benchmark takes: its rounds, the backend (as ADJOIN_BACKEND forces it) and the architecture the training benchmarks measure. */
export interface BenchArgs {
  rounds?: number;
  backend?: string;
  arch?: Architecture;
}

/**
 * A WebGPU backend on a software adapter (SwiftShader) computes on the CPU
 * through a GPU driver emulated in software: its figures show that the
 * webgpu path trains, not how fast a GPU would.
 */
export function softwareNote(backend: BackendInfo): { note?: string } {
  return backend.kind === 'webgpu' && backend.label !== 'GPU'
    ? { note: 'software WebGPU adapter (emulated on the CPU): these figures measure correctness of the webgpu path, not GPU speed' }
    : {};
}

/**
 * How big and how long a training benchmark is: batch 64 and the given
 * rounds, or, on a software WebGPU adapter, batch 8 and two rounds after one
 * warm-up — there a batch-64 step of ResNet-18 at 28×28 takes minutes, and
 * the run only shows that the webgpu path trains.
 */
export function trainingPlan(backend: BackendInfo, args: BenchArgs, rounds: number, warmup: number): { batch: number; rounds: number; warmup: number } {
  if (softwareNote(backend).note === undefined) return { batch: 64, rounds: args.rounds ?? rounds, warmup };
  return { batch: 8, rounds: args.rounds ?? 2, warmup: 1 };
}

/** Median of a list of timings. */
export function median(values: readonly number[]): number {
  const v = [...values].sort((a, b) => a - b);
  const mid = Math.floor(v.length / 2);
  return v.length % 2 === 1 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

/**
 * Times several variants side by side: round-robin, after warm-up, so slow
 * phases of a shared machine hit every variant alike. Returns medians in ms.
 */
export async function interleaved(
  variants: Record<string, () => void | Promise<void>>,
  options: { warmup: number; rounds: number },
): Promise<Record<string, number>> {
  return (await sideBySide(variants, options)).wall;
}

/** Per variant, its time in each round: wall clock and this process's CPU time (ms). */
export interface SideBySide {
  /** Median wall-clock ms per variant. */
  wall: Record<string, number>;
  rounds: Record<string, Array<{ wall: number; cpu: number }>>;
}

/**
 * `interleaved`, keeping every round's wall-clock and CPU time. CPU time
 * leaves out the time the process waited for a core, which on a shared
 * machine is most of what moves wall-clock times from run to run.
 */
export async function sideBySide(variants: Record<string, () => void | Promise<void>>, options: { warmup: number; rounds: number }): Promise<SideBySide> {
  const names = Object.keys(variants);
  for (let i = 0; i < options.warmup; i++) for (const n of names) await variants[n]!();
  const rounds: SideBySide['rounds'] = Object.fromEntries(names.map((n) => [n, []]));
  for (let r = 0; r < options.rounds; r++) {
    for (const n of names) {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      await variants[n]!();
      const wall = performance.now() - t0;
      const c = process.cpuUsage(c0);
      rounds[n]!.push({ wall, cpu: (c.user + c.system) / 1000 });
    }
  }
  return { wall: Object.fromEntries(names.map((n) => [n, median(rounds[n]!.map((t) => t.wall))])), rounds };
}

/** The median over rounds of a's time over b's in the same round (CPU time): robust to a shared machine's slow phases. */
export function pairedCpuRatio(s: SideBySide, a: string, b: string): number {
  const [ra, rb] = [s.rounds[a], s.rounds[b]];
  if (ra === undefined || rb === undefined) throw new Error(`pairedCpuRatio: no variant ${ra === undefined ? a : b}`);
  return median(ra.map((t, i) => t.cpu / rb[i]!.cpu));
}

export function round(x: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
