import type * as tf from '@tensorflow/tfjs';
import { assertNever } from '../../shared/errors.js';
import { type Activation, RELU6_CAP } from './activation.js';
import { batchNormSimd, type BatchNormSimdExports } from './wasm-kernels/batch-norm-simd.js';
import { heapOf, type WasmMemory } from './wasm-kernels/wasm-runtime.js';

/**
 * The memory passes of the training batch norm (batch-norm.ts), on tensors
 * JavaScript can reach: the wasm heap or the cpu backend's arrays. On wasm,
 * with a channel count divisible by 4, they run as SIMD loops on the heap
 * (several times faster); otherwise as the JavaScript loops below.
 */
export interface Io {
  read(t: tf.TensorInfo): Float32Array;
  alloc(shape: number[]): tf.TensorInfo;
  view(t: tf.TensorInfo): Float32Array;
  free(t: tf.TensorInfo): void;
  /** The wasm backend's heap, where its tensors live; null on the cpu backend. */
  memory: WasmMemory | null;
}

type HeapBackend = tf.KernelBackend & {
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array;
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
};

type CpuBackend = tf.KernelBackend & {
  data: { get(id: tf.DataId): { values: Float32Array } };
  makeTensorInfo(shape: number[], dtype: tf.DataType, values?: Float32Array): tf.TensorInfo;
};

export function ioFor(backendName: string, backend: tf.KernelBackend): Io {
  if (backendName === 'wasm') {
    const b = backend as HeapBackend;
    return {
      read: (t) => b.typedArrayFromHeap(t),
      alloc: (s) => b.makeOutput(s, 'float32'),
      view: (t) => b.typedArrayFromHeap(t),
      free: (t) => b.disposeData(t.dataId),
      memory: heapOf(backend),
    };
  }
  const b = backend as CpuBackend;
  return {
    read: (t) => b.data.get(t.dataId).values,
    alloc: (s) => b.makeTensorInfo(s, 'float32', new Float32Array(s.reduce((a, c) => a * c, 1))),
    view: (t) => b.data.get(t.dataId).values,
    free: (t) => b.disposeData(t.dataId),
    memory: null,
  };
}

/** Per-channel factors of the input gradient: dx = k·(g − b − (x − μ)·a). */
export interface InputGradientFactors {
  k: Float64Array;
  a: Float64Array;
  b: Float64Array;
}

/**
 * The four passes, each over a whole NHWC tensor of `total` elements. A
 * `gate` is the activation's output, `y`: the gradient passes where y lies
 * in the activation's linear range (y > 0 for ReLU, 0 < y < 6 for ReLU6).
 * Allocates nothing once made, so heap views taken after `passesFor` stay valid.
 */
export interface Gate {
  y: tf.TensorInfo;
  activation: Exclude<Activation, 'none'>;
}

export interface BatchNormPasses {
  readonly kind: 'simd' | 'js';
  /** Per-channel Σx and Σx². */
  sums(x: tf.TensorInfo, total: number): { sum: Float64Array; sq: Float64Array };
  /** y = act(x·mul + add + r?). */
  normalize(x: tf.TensorInfo, r: tf.TensorInfo | null, y: tf.TensorInfo, mul: Float64Array, add: Float64Array, activation: Activation, total: number): void;
  /** Per-channel Σg and Σg·(x − μ). */
  gradientSums(dy: tf.TensorInfo, gate: Gate | null, x: tf.TensorInfo, mean: tf.TensorInfo, total: number): { sg: Float64Array; sgx: Float64Array };
  /** dx, and dr = g when a residual was added. */
  inputGradient(
    dy: tf.TensorInfo,
    gate: Gate | null,
    x: tf.TensorInfo,
    mean: tf.TensorInfo,
    f: InputGradientFactors,
    dx: tf.TensorInfo,
    dr: tf.TensorInfo | null,
    total: number,
  ): void;
  /** Frees the passes' scratch memory. */
  release(): void;
}

/** The fastest passes for this backend and channel count; allocates their scratch now. */
export function passesFor(io: Io, channels: number): BatchNormPasses {
  const simd = io.memory !== null && channels % 4 === 0 ? batchNormSimd(io.memory) : null;
  return simd === null ? new JsPasses(io, channels) : new SimdPasses(io, channels, simd, io.memory!);
}

class SimdPasses implements BatchNormPasses {
  readonly kind = 'simd';
  private readonly scratch: tf.TensorInfo;
  /** f64 [2C] sums, 8-byte aligned. */
  private readonly acc: number;
  /** f32 [4C] per-channel tables. */
  private readonly params: number;

  constructor(
    private readonly io: Io,
    private readonly C: number,
    private readonly simd: BatchNormSimdExports,
    private readonly memory: WasmMemory,
  ) {
    this.scratch = io.alloc([8 * C + 2]);
    const base = io.view(this.scratch).byteOffset;
    this.acc = base + (base % 8);
    this.params = this.acc + 16 * C;
  }

  private address(t: tf.TensorInfo): number {
    return this.io.view(t).byteOffset;
  }

  private sumsFrom(fill: () => void): [Float64Array, Float64Array] {
    new Float64Array(this.memory.buffer, this.acc, 2 * this.C).fill(0);
    fill();
    const both = new Float64Array(this.memory.buffer, this.acc, 2 * this.C);
    return [both.slice(0, this.C), both.slice(this.C)];
  }

  private table(...columns: Array<Float64Array | Float32Array>): void {
    const t = new Float32Array(this.memory.buffer, this.params, columns.length * this.C);
    columns.forEach((col, i) => t.set(col, i * this.C));
  }

  sums(x: tf.TensorInfo, total: number): { sum: Float64Array; sq: Float64Array } {
    const [sum, sq] = this.sumsFrom(() => this.simd.moments(this.address(x), 4 * total, 4 * this.C, this.acc));
    return { sum, sq };
  }

  normalize(x: tf.TensorInfo, r: tf.TensorInfo | null, y: tf.TensorInfo, mul: Float64Array, add: Float64Array, activation: Activation, total: number): void {
    this.table(mul, add);
    const run = this.simd.normalize({ activation, residual: r !== null });
    run(this.address(x), r === null ? 0 : this.address(r), this.address(y), this.params, 4 * total, 4 * this.C);
  }

  gradientSums(dy: tf.TensorInfo, gate: Gate | null, x: tf.TensorInfo, mean: tf.TensorInfo, total: number): { sg: Float64Array; sgx: Float64Array } {
    const run = this.simd.gradSums(gate?.activation ?? 'none');
    const [sg, sgx] = this.sumsFrom(() =>
      run(this.address(dy), gate === null ? 0 : this.address(gate.y), this.address(x), this.address(mean), 4 * total, 4 * this.C, this.acc),
    );
    return { sg, sgx };
  }

  inputGradient(
    dy: tf.TensorInfo,
    gate: Gate | null,
    x: tf.TensorInfo,
    mean: tf.TensorInfo,
    f: InputGradientFactors,
    dx: tf.TensorInfo,
    dr: tf.TensorInfo | null,
    total: number,
  ): void {
    this.table(this.io.read(mean), f.k, f.a, f.b);
    const run = this.simd.inputGrad({ activation: gate?.activation ?? 'none', residual: dr !== null });
    run(
      this.address(dy),
      gate === null ? 0 : this.address(gate.y),
      this.address(x),
      this.params,
      this.address(dx),
      dr === null ? 0 : this.address(dr),
      4 * total,
      4 * this.C,
    );
  }

  release(): void {
    this.io.free(this.scratch);
  }
}

class JsPasses implements BatchNormPasses {
  readonly kind = 'js';

  constructor(
    private readonly io: Io,
    private readonly C: number,
  ) {}

  sums(x: tf.TensorInfo, total: number): { sum: Float64Array; sq: Float64Array } {
    return channelSums(this.io.read(x), this.C, total);
  }

  normalize(x: tf.TensorInfo, r: tf.TensorInfo | null, y: tf.TensorInfo, mul: Float64Array, add: Float64Array, activation: Activation, total: number): void {
    if (r === null) normalizeOnly(this.io.read(x), this.io.view(y), mul, add, this.C, total, activation);
    else normalizeAdd(this.io.read(x), this.io.read(r), this.io.view(y), mul, add, this.C, total, activation);
  }

  gradientSums(dy: tf.TensorInfo, gate: Gate | null, x: tf.TensorInfo, mean: tf.TensorInfo, total: number): { sg: Float64Array; sgx: Float64Array } {
    const [d, xs, m] = [this.io.read(dy), this.io.read(x), this.io.read(mean)];
    return gate === null ? gradientSums(d, xs, m, this.C, total) : gatedGradientSums(d, this.jsGate(gate), xs, m, this.C, total);
  }

  inputGradient(
    dy: tf.TensorInfo,
    gate: Gate | null,
    x: tf.TensorInfo,
    mean: tf.TensorInfo,
    f: InputGradientFactors,
    dx: tf.TensorInfo,
    dr: tf.TensorInfo | null,
    total: number,
  ): void {
    const drView = dr === null ? null : this.io.view(dr);
    inputGradient(
      this.io.read(dy),
      gate === null ? null : this.jsGate(gate),
      this.io.read(x),
      this.io.read(mean),
      f.k,
      f.a,
      f.b,
      this.io.view(dx),
      drView,
      this.C,
      total,
    );
  }

  release(): void {}

  private jsGate(gate: Gate): JsGate {
    return { y: this.io.read(gate.y), activation: gate.activation };
  }
}

/** An activation's output, as the loops read it. */
interface JsGate {
  y: Float32Array;
  activation: Exclude<Activation, 'none'>;
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

function normalizeOnly(xs: Float32Array, y: Float32Array, mul: Float64Array, add: Float64Array, C: number, total: number, activation: Activation): void {
  switch (activation) {
    case 'none':
      for (let o = 0; o < total; o += C) for (let c = 0; c < C; c++) y[o + c] = xs[o + c]! * mul[c]! + add[c]!;
      return;
    case 'relu':
      for (let o = 0; o < total; o += C) {
        for (let c = 0; c < C; c++) {
          const v = xs[o + c]! * mul[c]! + add[c]!;
          y[o + c] = (v + Math.abs(v)) * 0.5;
        }
      }
      return;
    case 'relu6':
      for (let o = 0; o < total; o += C) for (let c = 0; c < C; c++) y[o + c] = Math.min(Math.max(xs[o + c]! * mul[c]! + add[c]!, 0), RELU6_CAP);
      return;
    default:
      assertNever(activation, 'activation');
  }
}

function normalizeAdd(
  xs: Float32Array,
  r: Float32Array,
  y: Float32Array,
  mul: Float64Array,
  add: Float64Array,
  C: number,
  total: number,
  activation: Activation,
): void {
  switch (activation) {
    case 'none':
      for (let o = 0; o < total; o += C) for (let c = 0; c < C; c++) y[o + c] = xs[o + c]! * mul[c]! + add[c]! + r[o + c]!;
      return;
    case 'relu':
      for (let o = 0; o < total; o += C) {
        for (let c = 0; c < C; c++) {
          const v = xs[o + c]! * mul[c]! + add[c]! + r[o + c]!;
          y[o + c] = (v + Math.abs(v)) * 0.5;
        }
      }
      return;
    case 'relu6':
      for (let o = 0; o < total; o += C) {
        for (let c = 0; c < C; c++) y[o + c] = Math.min(Math.max(xs[o + c]! * mul[c]! + add[c]! + r[o + c]!, 0), RELU6_CAP);
      }
      return;
    default:
      assertNever(activation, 'activation');
  }
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

/** The same behind the activation: the gradient passes where its output y is in the linear range. */
function gatedGradientSums(
  d: Float32Array,
  gate: JsGate,
  xs: Float32Array,
  m: Float32Array,
  C: number,
  total: number,
): { sg: Float64Array; sgx: Float64Array } {
  const sg = new Float64Array(C);
  const sgx = new Float64Array(C);
  const y = gate.y;
  if (gate.activation === 'relu') {
    for (let o = 0; o < total; o += C) {
      for (let c = 0; c < C; c++) {
        const gy = d[o + c]! * +(y[o + c]! > 0);
        sg[c]! += gy;
        sgx[c]! += gy * (xs[o + c]! - m[c]!);
      }
    }
  } else {
    for (let o = 0; o < total; o += C) {
      for (let c = 0; c < C; c++) {
        const gy = d[o + c]! * +(y[o + c]! > 0) * +(y[o + c]! < RELU6_CAP);
        sg[c]! += gy;
        sgx[c]! += gy * (xs[o + c]! - m[c]!);
      }
    }
  }
  return { sg, sgx };
}

function inputGradient(
  d: Float32Array,
  gate: JsGate | null,
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
  if (gate === null) {
    for (let o = 0; o < total; o += C) for (let c = 0; c < C; c++) dx[o + c] = k[c]! * (d[o + c]! - bb[c]! - (xs[o + c]! - m[c]!) * a[c]!);
    if (dr !== null) dr.set(d.subarray(0, total));
    return;
  }
  const y = gate.y;
  if (gate.activation === 'relu') {
    for (let o = 0; o < total; o += C) {
      for (let c = 0; c < C; c++) {
        const gy = d[o + c]! * +(y[o + c]! > 0);
        dx[o + c] = k[c]! * (gy - bb[c]! - (xs[o + c]! - m[c]!) * a[c]!);
      }
    }
    if (dr !== null) for (let i = 0; i < total; i++) dr[i] = d[i]! * +(y[i]! > 0);
    return;
  }
  for (let o = 0; o < total; o += C) {
    for (let c = 0; c < C; c++) {
      const gy = d[o + c]! * +(y[o + c]! > 0) * +(y[o + c]! < RELU6_CAP);
      dx[o + c] = k[c]! * (gy - bb[c]! - (xs[o + c]! - m[c]!) * a[c]!);
    }
  }
  if (dr !== null) for (let i = 0; i < total; i++) dr[i] = d[i]! * +(y[i]! > 0) * +(y[i]! < RELU6_CAP);
}
