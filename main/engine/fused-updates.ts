import * as tf from '@tensorflow/tfjs';
import { ioFor, type Io } from './batch-norm-passes.js';
import { ADAM_CONSTANTS, SGD_CONSTANTS, updateSimd, type MomentumMode, type UpdateSimdExports } from './wasm-kernels/update-simd.js';

/**
 * The per-parameter updates after a training step — the optimiser's and the
 * batch norms' running statistics — as one kernel call each for the whole
 * network, on the backends whose tensors JavaScript can read: wasm (SIMD
 * loops, update-simd.ts) and cpu (JavaScript loops).
 *
 * Composed from tfjs ops they cost six to eight kernel calls per parameter
 * tensor, most of them over a batch norm's few hundred values, so their time
 * is dispatch, not arithmetic; an adjoined network doubles the count (each
 * path has its own batch norms): 1,570 optimiser and 620 running-statistics
 * calls for MobileNetV2, 35 ms of its step. Every value is computed in
 * float32 exactly as the composed ops compute it, one rounding per op in the
 * same order, so the fused updates give the same bits (PyTorch's
 * `foreach`/fused optimisers make the same move for the same reason).
 */
export const SGD_UPDATE = 'AdjoinSgdUpdate';
export const ADAM_UPDATE = 'AdjoinAdamUpdate';
export const RUNNING_STATS_UPDATE = 'AdjoinRunningStatsUpdate';

const f32 = Math.fround;

/** Whether the active backend runs the fused updates. */
export function fusedUpdatesAvailable(): boolean {
  const backend = tf.getBackend();
  if (backend !== 'wasm' && backend !== 'cpu') return false;
  registerFusedUpdates();
  return true;
}

/** One SGD step's rates and settings, as PyTorch's SGD applies them. */
export interface SgdStep {
  lr: number;
  momentum: number;
  nesterov: boolean;
  weightDecay: number;
}

/** A parameter with its gradient and, with momentum, its buffer (null on the first step: the buffer starts at the gradient). */
export interface SgdTensors {
  param: tf.Tensor;
  grad: tf.Tensor;
  buffer: tf.Tensor | null;
}

/**
 * g = grad + wd·p; with momentum b = μ·b + g (b = g at first) and the step
 * g + μ·b (Nesterov) or b; p − lr·step. Returns the new parameters and, with
 * momentum, the new buffers, in the order given.
 */
export function sgdUpdate(items: readonly SgdTensors[], step: SgdStep): { params: tf.Tensor[]; buffers: tf.Tensor[] } {
  // A list of inputs (tfjs's AddN takes one too), not a map: names by the thousand cost more than the update.
  const buffers = items.flatMap((it) => (it.buffer === null ? [] : [it.buffer]));
  const inputs = [...items.map((it) => it.param), ...items.map((it) => it.grad), ...buffers];
  const attrs = { count: items.length, first: items.map((it) => (it.buffer === null ? 1 : 0)), ...step };
  const out = run(SGD_UPDATE, inputs, attrs);
  const n = items.length;
  return { params: out.slice(0, n), buffers: step.momentum > 0 ? out.slice(n, 2 * n) : [] };
}

function run(kernel: string, inputs: tf.Tensor[], attrs: object): tf.Tensor[] {
  registerFusedUpdates();
  return tf.engine().runKernel(kernel, inputs as unknown as tf.NamedTensorMap, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
}

/** One Adam step's constants: the bias corrections are the caller's (they depend on the step and its β1). */
export interface AdamStep {
  beta1: number;
  beta2: number;
  epsilon: number;
  weightDecay: number;
  /** lr / (1 − β1ᵗ). */
  stepSize: number;
  /** √(1 − β2ᵗ). */
  sqrtCorrection2: number;
}

export interface AdamTensors {
  param: tf.Tensor;
  grad: tf.Tensor;
  m: tf.Tensor;
  v: tf.Tensor;
}

/** m = β1·m + (1 − β1)·g, v = β2·v + (1 − β2)·g², p − stepSize·m / (√v / √(1 − β2ᵗ) + ε), with g = grad + wd·p. */
export function adamUpdate(items: readonly AdamTensors[], step: AdamStep): { params: tf.Tensor[]; m: tf.Tensor[]; v: tf.Tensor[] } {
  const inputs = (['param', 'grad', 'm', 'v'] as const).flatMap((k) => items.map((it) => it[k]));
  const out = run(ADAM_UPDATE, inputs, { count: items.length, ...step });
  const n = items.length;
  return { params: out.slice(0, n), m: out.slice(n, 2 * n), v: out.slice(2 * n, 3 * n) };
}

/** A batch norm's running statistics and the batch's, with the factor that makes the batch variance unbiased. */
export interface RunningStatsTensors {
  mean: tf.Tensor;
  variance: tf.Tensor;
  batchMean: tf.Tensor;
  batchVariance: tf.Tensor;
  unbiased: number;
}

/** mean·(1 − m) + batch mean·m and variance·(1 − m) + batch variance·m·unbiased: new running means, then variances. */
export function runningStatsUpdate(items: readonly RunningStatsTensors[], momentum: number): { means: tf.Tensor[]; variances: tf.Tensor[] } {
  const inputs = (['mean', 'variance', 'batchMean', 'batchVariance'] as const).flatMap((k) => items.map((it) => it[k]));
  const out = run(RUNNING_STATS_UPDATE, inputs, { count: items.length, momentum, unbiased: items.map((it) => it.unbiased) });
  const n = items.length;
  return { means: out.slice(0, n), variances: out.slice(n, 2 * n) };
}

/** The kernel's inputs as the list its caller made: `count` tensors per role, roles in order, each checked float32. */
class Inputs {
  constructor(
    private readonly list: readonly tf.TensorInfo[],
    private readonly count: number,
    private readonly roles: readonly string[],
  ) {}

  get(role: number, i: number): tf.TensorInfo {
    return this.at(role * this.count + i, `${this.roles[role]} ${i}`);
  }

  /** Input `index` of the list, named `name` in errors. */
  at(index: number, name: string): tf.TensorInfo {
    const t = this.list[index];
    if (t === undefined) throw new Error(`fused update: no ${name}`);
    if (t.dtype !== 'float32') throw new Error(`fused update: ${name} is ${t.dtype}, not float32`);
    return t;
  }
}

function inputsOf(inputs: tf.NamedTensorInfoMap, count: number, roles: readonly string[]): Inputs {
  return new Inputs(inputs as unknown as tf.TensorInfo[], count, roles);
}

function size(t: tf.TensorInfo): number {
  return t.shape.reduce((a, b) => a * b, 1);
}

/** Allocates one output per shape first (growing wasm memory invalidates earlier heap views), then fills them. */
function allocAll(io: Io, shapes: number[][]): tf.TensorInfo[] {
  return shapes.map((s) => io.alloc(s));
}

/** The SIMD loops where the tensors lie on a wasm heap that has them, with the scalars they read from the heap. */
function simdOn(io: Io, scalars: number): { simd: UpdateSimdExports; consts: tf.TensorInfo } | null {
  const simd = io.memory === null ? null : updateSimd(io.memory);
  return simd === null ? null : { simd, consts: io.alloc([scalars]) };
}

/** The address of a tensor on the wasm heap. */
function at(io: Io, t: tf.TensorInfo | null): number {
  return t === null ? 0 : io.view(t).byteOffset;
}

function sgdKernel(backendName: string): tf.KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const io = ioFor(backendName, backend as unknown as tf.KernelBackend);
    const { count, first, lr, momentum, nesterov, weightDecay } = attrs as unknown as SgdStep & { count: number; first: number[] };
    const list = inputsOf(inputs, count, ['parameter', 'gradient']);
    const params = Array.from({ length: count }, (_, i) => list.get(0, i));
    const withMomentum = momentum > 0;
    let buffers = 0;
    const outs = allocAll(
      io,
      [...params, ...(withMomentum ? params : [])].map((p) => p.shape),
    );
    const fast = simdOn(io, SGD_CONSTANTS.length);
    try {
      // float32 scalars, as tfjs makes them from numbers.
      const c = { weightDecay: f32(weightDecay), momentum: f32(momentum), lr: f32(lr) };
      if (fast !== null) io.view(fast.consts).set(SGD_CONSTANTS.map((k) => c[k]));
      for (let i = 0; i < count; i++) {
        const n = size(params[i]!);
        const mode: MomentumMode = !withMomentum ? 'none' : first[i] === 1 ? 'first' : 'running';
        const t = {
          p: params[i]!,
          g: list.get(1, i),
          b: first[i] === 0 ? list.at(2 * count + buffers++, `momentum buffer ${i}`) : null,
          pOut: outs[i]!,
          bOut: withMomentum ? outs[count + i]! : null,
        };
        const bulk = fast === null ? 0 : n - (n % 4);
        if (fast !== null && bulk > 0) {
          const run = fast.simd.sgd({ weightDecay: weightDecay > 0, momentum: mode, nesterov });
          run(at(io, t.p), at(io, t.g), at(io, t.b), at(io, t.pOut), at(io, t.bOut), 4 * bulk, at(io, fast.consts));
        }
        const view = (x: tf.TensorInfo | null): Float32Array | null => (x === null ? null : io.view(x));
        sgdScalar(io.read(t.p), io.read(t.g), view(t.b), io.view(t.pOut), view(t.bOut), bulk, n, c, { decay: weightDecay > 0, nesterov });
      }
    } finally {
      if (fast !== null) io.free(fast.consts);
    }
    return outs;
  };
}

/** Elements [from, to) of one SGD update: what the SIMD loops leave (a tensor's last few values), or all of it. */
function sgdScalar(
  p: Float32Array,
  g0: Float32Array,
  b: Float32Array | null,
  pOut: Float32Array,
  bOut: Float32Array | null,
  from: number,
  to: number,
  c: Record<(typeof SGD_CONSTANTS)[number], number>,
  { decay, nesterov }: { decay: boolean; nesterov: boolean },
): void {
  for (let k = from; k < to; k++) {
    const g = decay ? f32(g0[k]! + f32(p[k]! * c.weightDecay)) : g0[k]!;
    let step = g;
    if (bOut !== null) {
      const next = b === null ? g : f32(f32(b[k]! * c.momentum) + g);
      bOut[k] = next;
      step = nesterov ? f32(g + f32(next * c.momentum)) : next;
    }
    pOut[k] = f32(p[k]! - f32(step * c.lr));
  }
}

function adamKernel(backendName: string): tf.KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const io = ioFor(backendName, backend as unknown as tf.KernelBackend);
    const a = attrs as unknown as AdamStep & { count: number };
    const list = inputsOf(inputs, a.count, ['parameter', 'gradient', 'first moment', 'second moment']);
    const params = Array.from({ length: a.count }, (_, i) => list.get(0, i));
    const outs = allocAll(
      io,
      [...params, ...params, ...params].map((p) => p.shape),
    );
    const fast = simdOn(io, ADAM_CONSTANTS.length);
    try {
      const c: Record<(typeof ADAM_CONSTANTS)[number], number> = {
        weightDecay: f32(a.weightDecay),
        beta1: f32(a.beta1),
        oneMinusBeta1: f32(1 - a.beta1),
        beta2: f32(a.beta2),
        oneMinusBeta2: f32(1 - a.beta2),
        epsilon: f32(a.epsilon),
        stepSize: f32(a.stepSize),
        sqrtCorrection2: f32(a.sqrtCorrection2),
      };
      if (fast !== null) io.view(fast.consts).set(ADAM_CONSTANTS.map((k) => c[k]));
      for (let i = 0; i < a.count; i++) {
        const n = size(params[i]!);
        const t = [params[i]!, list.get(1, i), list.get(2, i), list.get(3, i), outs[i]!, outs[a.count + i]!, outs[2 * a.count + i]!] as const;
        const bulk = fast === null ? 0 : n - (n % 4);
        if (fast !== null && bulk > 0) {
          const [p, g, m, v, pOut, mOut, vOut] = t.map((x) => at(io, x)) as [number, number, number, number, number, number, number];
          fast.simd.adam(a.weightDecay > 0)(p, g, m, v, pOut, mOut, vOut, 4 * bulk, at(io, fast.consts));
        }
        const [p, g, m, v, pOut, mOut, vOut] = t.map((x) => io.view(x)) as [
          Float32Array,
          Float32Array,
          Float32Array,
          Float32Array,
          Float32Array,
          Float32Array,
          Float32Array,
        ];
        for (let k = bulk; k < n; k++) {
          const gk = a.weightDecay > 0 ? f32(g[k]! + f32(p[k]! * c.weightDecay)) : g[k]!;
          const mk = f32(f32(m[k]! * c.beta1) + f32(gk * c.oneMinusBeta1));
          const vk = f32(f32(v[k]! * c.beta2) + f32(f32(gk * gk) * c.oneMinusBeta2));
          const denom = f32(f32(f32(Math.sqrt(vk)) / c.sqrtCorrection2) + c.epsilon);
          mOut[k] = mk;
          vOut[k] = vk;
          pOut[k] = f32(p[k]! - f32(f32(mk / denom) * c.stepSize));
        }
      }
    } finally {
      if (fast !== null) io.free(fast.consts);
    }
    return outs;
  };
}

function runningStatsKernel(backendName: string): tf.KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const io = ioFor(backendName, backend as unknown as tf.KernelBackend);
    const { count, momentum, unbiased } = attrs as unknown as { count: number; momentum: number; unbiased: number[] };
    const list = inputsOf(inputs, count, ['running mean', 'running variance', 'batch mean', 'batch variance']);
    const means = Array.from({ length: count }, (_, i) => list.get(0, i));
    const outs = allocAll(
      io,
      [...means, ...means].map((t) => t.shape),
    );
    const [keep, take] = [f32(1 - momentum), f32(momentum)];
    for (let i = 0; i < count; i++) {
      const n = size(means[i]!);
      const rm = io.read(means[i]!);
      const rv = io.read(list.get(1, i));
      const bm = io.read(list.get(2, i));
      const bv = io.read(list.get(3, i));
      const takeVariance = f32(momentum * unbiased[i]!);
      const [mOut, vOut] = [io.view(outs[i]!), io.view(outs[count + i]!)];
      for (let k = 0; k < n; k++) {
        mOut[k] = f32(f32(rm[k]! * keep) + f32(bm[k]! * take));
        vOut[k] = f32(f32(rv[k]! * keep) + f32(bv[k]! * takeVariance));
      }
    }
    return outs;
  };
}

let registered = false;

/** Registers the fused updates for the wasm and cpu backends. Idempotent. */
export function registerFusedUpdates(): void {
  if (registered) return;
  registered = true;
  for (const backendName of ['wasm', 'cpu']) {
    for (const [kernelName, make] of [
      [SGD_UPDATE, sgdKernel],
      [ADAM_UPDATE, adamKernel],
      [RUNNING_STATS_UPDATE, runningStatsKernel],
    ] as const) {
      tf.registerKernel({ kernelName, backendName, kernelFunc: make(backendName) });
    }
  }
}
