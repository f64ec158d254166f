import * as tf from '@tensorflow/tfjs';
import { activeReplicaGroup } from './parallel/replica-group.js';

/**
 * Training-mode batch norm — optionally scaled by a per-channel soft mask
 * (the DAN super-network), then a residual add and a ReLU — as one kernel
 * with a hand-written gradient: y = relu?(bn(x)·m + r).
 *
 * Composed from tfjs ops, a training batch norm costs ~15 full-tensor passes
 * forward and backward (moments, broadcasts, the Tile-heavy autodiff of
 * reductions), and the add and ReLU after it four more. These kernels make two
 * passes each way over NHWC memory, with per-channel sums in double
 * precision. They serve the wasm and cpu backends, whose tensors live in
 * memory JavaScript can read; on the native TensorFlow backends the composed
 * ops are fused by TensorFlow itself.
 */
export const BN_TRAIN = 'AdjoinBatchNormTrain';
/** The same with a mask input; its gradient also needs β and the mask. */
export const BN_TRAIN_MASKED = 'AdjoinBatchNormTrainMasked';
export const BN_TRAIN_GRAD = 'AdjoinBatchNormTrainGrad';

interface BnAttrs {
  epsilon: number;
  relu: boolean;
  /** Whether a residual input is added (the gradient then has a part for it). */
  residual: boolean;
}

interface Io {
  read(t: tf.TensorInfo): Float32Array;
  alloc(shape: number[]): tf.TensorInfo;
  view(t: tf.TensorInfo): Float32Array;
}

type HeapBackend = tf.KernelBackend & {
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array;
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
};

type CpuBackend = tf.KernelBackend & {
  data: { get(id: tf.DataId): { values: Float32Array } };
  makeTensorInfo(shape: number[], dtype: tf.DataType, values?: Float32Array): tf.TensorInfo;
};

function ioFor(backendName: string, backend: tf.KernelBackend): Io {
  if (backendName === 'wasm') {
    const b = backend as HeapBackend;
    return { read: (t) => b.typedArrayFromHeap(t), alloc: (s) => b.makeOutput(s, 'float32'), view: (t) => b.typedArrayFromHeap(t) };
  }
  const b = backend as CpuBackend;
  return {
    read: (t) => b.data.get(t.dataId).values,
    alloc: (s) => b.makeTensorInfo(s, 'float32', new Float32Array(s.reduce((a, c) => a * c, 1))),
    view: (t) => b.data.get(t.dataId).values,
  };
}

function forwardKernel(backendName: string): tf.KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const io = ioFor(backendName, backend as unknown as tf.KernelBackend);
    const { x, scale, offset, residual, mask } = inputs as Record<string, tf.TensorInfo | undefined>;
    const { epsilon, relu } = attrs as unknown as BnAttrs;
    const C = x!.shape[x!.shape.length - 1]!;
    const total = x!.shape.reduce((a, b) => a * b, 1);
    // Allocate first: growing wasm memory invalidates earlier heap views.
    const yInfo = io.alloc(x!.shape);
    const meanInfo = io.alloc([C]);
    const varInfo = io.alloc([C]);
    const xs = io.read(x!);
    const g = io.read(scale!);
    const b = io.read(offset!);
    const r = residual === undefined ? null : io.read(residual);
    const mk = mask === undefined ? null : io.read(mask);
    const y = io.view(yInfo);
    const mean = io.view(meanInfo);
    const variance = io.view(varInfo);
    const local = channelSums(xs, C, total);
    // In a data-parallel step the statistics are the whole batch's, over every replica's shard.
    const { sum, sq, N } = acrossReplicas(local.sum, local.sq, total / C);
    const mul = new Float64Array(C);
    const add = new Float64Array(C);
    for (let c = 0; c < C; c++) {
      const m = sum[c]! / N;
      const v = Math.max(sq[c]! / N - m * m, 0);
      mean[c] = m;
      variance[c] = v;
      const scaleBy = mk === null ? 1 : mk[c]!;
      const k = g[c]! / Math.sqrt(v + epsilon);
      mul[c] = k * scaleBy;
      add[c] = (b[c]! - m * k) * scaleBy;
    }
    if (r === null) normalize(xs, y, mul, add, C, total, relu);
    else normalizeAdd(xs, r, y, mul, add, C, total, relu);
    return [yInfo, meanInfo, varInfo];
  };
}

function gradKernel(backendName: string): tf.KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const io = ioFor(backendName, backend as unknown as tf.KernelBackend);
    const { dy, y, x, scale, offset, mask, mean, variance } = inputs as Record<string, tf.TensorInfo | undefined>;
    const { epsilon, relu, residual } = attrs as unknown as BnAttrs;
    const C = x!.shape[x!.shape.length - 1]!;
    const total = x!.shape.reduce((a, b) => a * b, 1);
    const dxInfo = io.alloc(x!.shape);
    const dgInfo = io.alloc([C]);
    const dbInfo = io.alloc([C]);
    const drInfo = residual ? io.alloc(x!.shape) : null;
    const dmInfo = mask === undefined ? null : io.alloc([C]);
    const d = io.read(dy!);
    const out = relu ? io.read(y!) : null;
    const xs = io.read(x!);
    const g = io.read(scale!);
    const beta = offset === undefined ? null : io.read(offset);
    const mk = mask === undefined ? null : io.read(mask);
    const m = io.read(mean!);
    const v = io.read(variance!);
    const dx = io.view(dxInfo);
    const dg = io.view(dgInfo);
    const db = io.view(dbInfo);
    const dr = drInfo === null ? null : io.view(drInfo);
    const dm = dmInfo === null ? null : io.view(dmInfo);
    const inv = new Float64Array(C);
    for (let c = 0; c < C; c++) inv[c] = 1 / Math.sqrt(v[c]! + epsilon);
    // With y = relu?(bn(x)·m + r) and g = ∂L/∂(bn(x)·m + r): the ReLU passes
    // gradient where its output is positive, the add passes g to r, the mask
    // gets Σ g·bn(x), and the batch norm receives g·m.
    const local = out === null ? gradientSums(d, xs, m, C, total) : gatedGradientSums(d, out, xs, m, C, total);
    // γ, β and the mask get this shard's part of their gradient (the step adds
    // the replicas' parts with the other gradients); dx needs the whole batch's sums.
    const { sum: sg, sq: sgx, N } = acrossReplicas(local.sg, local.sgx, total / C);
    // dx = γ·inv·(g' − Σg'/N − x̂·Σ(g'·x̂)/N), with x̂ = (x − μ)·inv and g' = g·m.
    const k = new Float64Array(C);
    const a = new Float64Array(C);
    const bb = new Float64Array(C);
    for (let c = 0; c < C; c++) {
      const i = inv[c]!;
      const s = mk === null ? 1 : mk[c]!;
      if (dm !== null) dm[c] = g[c]! * local.sgx[c]! * i + beta![c]! * local.sg[c]!;
      db[c] = s * local.sg[c]!;
      dg[c] = s * local.sgx[c]! * i;
      k[c] = s * g[c]! * i;
      a[c] = (sgx[c]! * i * i) / N;
      bb[c] = sg[c]! / N;
    }
    inputGradient(d, out, xs, m, k, a, bb, dx, dr, C, total);
    const outs = [dxInfo, dgInfo, dbInfo];
    if (drInfo !== null) outs.push(drInfo);
    if (dmInfo !== null) outs.push(dmInfo);
    return outs;
  };
}

/**
 * Per-channel sums over the whole batch: this shard's alone, or in a
 * data-parallel step every replica's added up (with the image count N).
 */
function acrossReplicas(a: Float64Array, b: Float64Array, n: number): { sum: Float64Array; sq: Float64Array; N: number } {
  const group = activeReplicaGroup();
  if (group === null) return { sum: a, sq: b, N: n };
  const C = a.length;
  const packed = new Float64Array(2 * C + 1);
  packed.set(a, 0);
  packed.set(b, C);
  packed[2 * C] = n;
  const all = group.allReduce(packed);
  return { sum: all.subarray(0, C), sq: all.subarray(C, 2 * C), N: all[2 * C]! };
}

/*
 * The hot loops, one small function per variant so each stays monomorphic.
 * The ReLU and its gradient are branch-free: with signs at random a branch
 * mispredicts half the time, which tripled these loops' cost (measured).
 */

function channelSums(xs: Float32Array, C: number, total: number): { sum: Float64Array; sq: Float64Array } {
  const sum = new Float64Array(C);
  const sq = new Float64Array(C);
  for (let o = 0; o < total; o += C) {
    for (let c = 0; c < C; c++) {
      const v = xs[o + c]!;
      sum[c]! += v;
      sq[c]! += v * v;
    }
  }
  return { sum, sq };
}

function normalize(xs: Float32Array, y: Float32Array, mul: Float64Array, add: Float64Array, C: number, total: number, relu: boolean): void {
  if (relu) {
    for (let o = 0; o < total; o += C) {
      for (let c = 0; c < C; c++) {
        const v = xs[o + c]! * mul[c]! + add[c]!;
        y[o + c] = (v + Math.abs(v)) * 0.5;
      }
    }
    return;
  }
  for (let o = 0; o < total; o += C) for (let c = 0; c < C; c++) y[o + c] = xs[o + c]! * mul[c]! + add[c]!;
}

function normalizeAdd(
  xs: Float32Array,
  r: Float32Array,
  y: Float32Array,
  mul: Float64Array,
  add: Float64Array,
  C: number,
  total: number,
  relu: boolean,
): void {
  if (relu) {
    for (let o = 0; o < total; o += C) {
      for (let c = 0; c < C; c++) {
        const v = xs[o + c]! * mul[c]! + add[c]! + r[o + c]!;
        y[o + c] = (v + Math.abs(v)) * 0.5;
      }
    }
    return;
  }
  for (let o = 0; o < total; o += C) for (let c = 0; c < C; c++) y[o + c] = xs[o + c]! * mul[c]! + add[c]! + r[o + c]!;
}

function gradientSums(d: Float32Array, xs: Float32Array, m: Float32Array, C: number, total: number): { sg: Float64Array; sgx: Float64Array } {
  const sg = new Float64Array(C);
  const sgx = new Float64Array(C);
  for (let o = 0; o < total; o += C) {
    for (let c = 0; c < C; c++) {
      const gy = d[o + c]!;
      sg[c]! += gy;
      sgx[c]! += gy * (xs[o + c]! - m[c]!);
    }
  }
  return { sg, sgx };
}

/** The same behind the ReLU: the gradient passes where the output is positive. */
function gatedGradientSums(
  d: Float32Array,
  out: Float32Array,
  xs: Float32Array,
  m: Float32Array,
  C: number,
  total: number,
): { sg: Float64Array; sgx: Float64Array } {
  const sg = new Float64Array(C);
  const sgx = new Float64Array(C);
  for (let o = 0; o < total; o += C) {
    for (let c = 0; c < C; c++) {
      const gy = d[o + c]! * +(out[o + c]! > 0);
      sg[c]! += gy;
      sgx[c]! += gy * (xs[o + c]! - m[c]!);
    }
  }
  return { sg, sgx };
}

function inputGradient(
  d: Float32Array,
  out: Float32Array | null,
  xs: Float32Array,
  m: Float32Array,
  k: Float64Array,
  a: Float64Array,
  bb: Float64Array,
  dx: Float32Array,
  dr: Float32Array | null,
  C: number,
  total: number,
): void {
  if (out === null) {
    for (let o = 0; o < total; o += C) for (let c = 0; c < C; c++) dx[o + c] = k[c]! * (d[o + c]! - bb[c]! - (xs[o + c]! - m[c]!) * a[c]!);
    if (dr !== null) dr.set(d.subarray(0, total));
    return;
  }
  for (let o = 0; o < total; o += C) {
    for (let c = 0; c < C; c++) {
      const gy = d[o + c]! * +(out[o + c]! > 0);
      dx[o + c] = k[c]! * (gy - bb[c]! - (xs[o + c]! - m[c]!) * a[c]!);
    }
  }
  if (dr !== null) for (let i = 0; i < total; i++) dr[i] = d[i]! * +(out[i]! > 0);
}

const orphans = new Set<tf.Tensor>();

function releaseOrphans(): void {
  for (const t of orphans) t.dispose();
  orphans.clear();
}

let registered = false;

function gradientFor(masked: boolean): tf.GradConfig {
  return {
    kernelName: masked ? BN_TRAIN_MASKED : BN_TRAIN,
    inputsToSave: masked ? ['x', 'scale', 'offset', 'mask'] : ['x', 'scale'],
    outputsToSave: [true, true, true],
    gradFunc: (dys, saved, attrs) => {
      // The tape calls each input's closure inside its own tidy, so the one
      // kernel call that yields every gradient keeps those it does not return
      // yet; whatever a closure never collects is freed at the next batch norm.
      releaseOrphans();
      const t = saved as tf.Tensor[];
      const [x, scale] = t;
      const [offset, mask] = masked ? [t[2]!, t[3]!] : [null, null];
      const [y, mean, variance] = t.slice(masked ? 4 : 2);
      const dy = (dys as tf.Tensor[])[0]!;
      const { epsilon, relu, residual: hasResidual } = attrs as unknown as BnAttrs;
      const ahead: Array<tf.Tensor | undefined> = [];
      let computed = false;
      const take = (i: number): tf.Tensor => {
        if (!computed) {
          computed = true;
          const inputs: tf.NamedTensorMap = { dy, y: y!, x: x!, scale: scale!, mean: mean!, variance: variance! };
          if (offset !== null && mask !== null) Object.assign(inputs, { offset, mask });
          const parts = tf.engine().runKernel(BN_TRAIN_GRAD, inputs, { epsilon, relu, residual: hasResidual }) as tf.Tensor[];
          parts.forEach((p, j) => {
            if (j !== i) orphans.add((ahead[j] = tf.keep(p)));
          });
          return parts[i]!;
        }
        const kept = ahead[i];
        if (kept === undefined) throw new Error('batch-norm gradient requested twice');
        // A fresh tensor owned by this closure's tidy; the kept one is released.
        const out = tf.clone(kept);
        kept.dispose();
        orphans.delete(kept);
        ahead[i] = undefined;
        return out;
      };
      const grads: Record<string, () => tf.Tensor> = { x: () => take(0), scale: () => take(1), offset: () => take(2) };
      let next = 3;
      if (hasResidual) {
        const at = next++;
        grads['residual'] = () => take(at);
      }
      if (masked) {
        const at = next++;
        grads['mask'] = () => take(at);
      }
      return grads;
    },
  };
}

/** Registers the kernels for the wasm and cpu backends and the forward kernels' gradients. Idempotent. */
export function registerBatchNormKernels(): void {
  if (registered) return;
  registered = true;
  for (const backendName of ['wasm', 'cpu']) {
    tf.registerKernel({ kernelName: BN_TRAIN, backendName, kernelFunc: forwardKernel(backendName) });
    tf.registerKernel({ kernelName: BN_TRAIN_MASKED, backendName, kernelFunc: forwardKernel(backendName) });
    tf.registerKernel({ kernelName: BN_TRAIN_GRAD, backendName, kernelFunc: gradKernel(backendName) });
  }
  tf.registerGradient(gradientFor(false));
  tf.registerGradient(gradientFor(true));
}

export interface BatchNormTrainOptions {
  epsilon: number;
  /** Multiplies the normalised output channel by channel (a DAN soft mask). */
  mask?: tf.Tensor1D | null;
  /** Added after normalisation (a residual shortcut), before the ReLU. */
  residual?: tf.Tensor | null;
  relu?: boolean;
}

/**
 * relu?(batchNorm(x)·mask? + residual?) with batch statistics over all axes
 * but the last. Returns the output and the batch mean and (biased) variance.
 */
export function batchNormTrain(
  x: tf.Tensor,
  scale: tf.Tensor1D,
  offset: tf.Tensor1D,
  options: BatchNormTrainOptions,
): { y: tf.Tensor; mean: tf.Tensor1D; variance: tf.Tensor1D } {
  const { epsilon } = options;
  const relu = options.relu ?? false;
  const residual = options.residual ?? null;
  const mask = options.mask ?? null;
  const backend = tf.getBackend();
  if (backend === 'wasm' || backend === 'cpu') {
    registerBatchNormKernels();
    releaseOrphans();
    const inputs: tf.NamedTensorMap = { x, scale, offset };
    if (residual !== null) inputs['residual'] = residual;
    if (mask !== null) inputs['mask'] = mask;
    const attrs = { epsilon, relu, residual: residual !== null };
    const kernel = mask === null ? BN_TRAIN : BN_TRAIN_MASKED;
    const [y, mean, variance] = tf.engine().runKernel(kernel, inputs, attrs) as tf.Tensor[];
    return { y: y!, mean: mean as tf.Tensor1D, variance: variance as tf.Tensor1D };
  }
  const axes = x.shape.map((_, i) => i).slice(0, -1);
  const { mean, variance } = tf.moments(x, axes);
  let y = tf.batchNorm(x, mean as tf.Tensor1D, variance as tf.Tensor1D, offset, scale, epsilon);
  if (mask !== null) y = tf.mul(y, mask);
  if (residual !== null) y = tf.add(y, residual);
  if (relu) y = tf.relu(y);
  return { y, mean: mean as tf.Tensor1D, variance: variance as tf.Tensor1D };
}
