import type * as tf from '@tensorflow/tfjs';
import { assertNever } from '../../shared/errors.js';
import { type Activation, RELU6_CAP } from './activation.js';
import { batchNormSimd, type BatchNormSimdExports } from './wasm-kernels/batch-norm-simd.js';
import { heapOf, type WasmMemory } from './wasm-kernels/wasm-runtime.js';

/**
 * The memory passes of the training batch norm (batch-norm.ts), on tensors
 * JavaScript can reach: the wasm heap or the cpu backend's arrays. On wasm
 * they run as SIMD loops on the heap (several times faster) whenever the
 * tensor's size is a multiple of 4; otherwise as the JavaScript loops below.
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

const scratchArrays: Float64Array[] = [];

/**
 * Per-channel float64 scratch for the SIMD passes' sums and the kernels'
 * factors: array `slot`, `n` long, reused from call to call (each holds
 * values only within one kernel call, and kernels do not nest). A training
 * step of an adjoined MobileNetV2 made about 1,900 such arrays, most of
 * them too large for V8's young heap, and its garbage collection took 3–4×
 * the standard step's.
 */
export function scratch(slot: number, n: number): Float64Array {
  let a = scratchArrays[slot];
  if (a === undefined || a.length < n) {
    a = new Float64Array(Math.max(n, 2 * (a?.length ?? 0)));
    scratchArrays[slot] = a;
  }
  return a.subarray(0, n);
}

/**
 * The fastest passes for this backend, channel count and tensor size (in
 * elements); allocates their scratch now.
 */
export function passesFor(io: Io, channels: number, total: number): BatchNormPasses {
  // The SIMD loops step four floats at a time through the whole tensor.
  const simd = io.memory !== null && total % 4 === 0 ? batchNormSimd(io.memory) : null;
  return simd === null ? new JsPasses(io, channels) : new SimdPasses(io, channels, simd, io.memory!);
}

/**
 * Channels per period of the SIMD loops: the fewest whole pixels that fill
 * whole lane vectors (C, 2C or 4C channels). Where C is not a multiple of 4 —
 * a small path's width sliced by α, 14 or 22 channels — a lane vector spans
 * two pixels, so the loops walk the tensor by periods, the per-channel tables
 * repeated across a period and each channel's sums split over its copies.
 */
export function simdPeriod(C: number): number {
  return C % 4 === 0 ? C : C % 2 === 0 ? 2 * C : 4 * C;
}

class SimdPasses implements BatchNormPasses {
  readonly kind = 'simd';
  private readonly scratch: tf.TensorInfo;
  /** Channels per period (a multiple of C and of 4). */
  private readonly P: number;
  /** f64 [2P] sums, 8-byte aligned. */
  private readonly acc: number;
  /** f32 [4P] per-channel tables. */
  private readonly params: number;

  constructor(
    private readonly io: Io,
    private readonly C: number,
    private readonly simd: BatchNormSimdExports,
    private readonly memory: WasmMemory,
  ) {
    this.P = simdPeriod(C);
    this.scratch = io.alloc([8 * this.P + 2]);
    const base = io.view(this.scratch).byteOffset;
    this.acc = base + (base % 8);
    this.params = this.acc + 16 * this.P;
  }

  private address(t: tf.TensorInfo): number {
    return this.io.view(t).byteOffset;
  }

  /** Runs a summing loop over zeroed accumulators, then adds each channel's copies across the period. */
  private sumsFrom(fill: () => void): [Float64Array, Float64Array] {
    const { C, P } = this;
    new Float64Array(this.memory.buffer, this.acc, 2 * P).fill(0);
    fill();
    const both = new Float64Array(this.memory.buffer, this.acc, 2 * P);
    const [first, second] = [scratch(0, C), scratch(1, C)];
    if (P === C) {
      first.set(both.subarray(0, C));
      second.set(both.subarray(C));
      return [first, second];
    }
    first.fill(0);
    second.fill(0);
    for (let k = 0; k < P; k++) {
      first[k % C]! += both[k]!;
      second[k % C]! += both[P + k]!;
    }
    return [first, second];
  }

  /** Per-channel columns, each repeated across the period. */
  private table(...columns: Array<Float64Array | Float32Array>): void {
    const { C, P } = this;
    const t = new Float32Array(this.memory.buffer, this.params, columns.length * P);
    columns.forEach((col, i) => {
      for (let at = i * P; at < (i + 1) * P; at += C) t.set(col, at);
    });
  }

  sums(x: tf.TensorInfo, total: number): { sum: Float64Array; sq: Float64Array } {
    const [sum, sq] = this.sumsFrom(() => this.simd.moments(this.address(x), 4 * total, 4 * this.P, this.acc));
    return { sum, sq };
  }

  normalize(x: tf.TensorInfo, r: tf.TensorInfo | null, y: tf.TensorInfo, mul: Float64Array, add: Float64Array, activation: Activation, total: number): void {
    this.table(mul, add);
    const run = this.simd.normalize({ activation, residual: r !== null });
    run(this.address(x), r === null ? 0 : this.address(r), this.address(y), this.params, 4 * total, 4 * this.P);
  }

  gradientSums(dy: tf.TensorInfo, gate: Gate | null, x: tf.TensorInfo, mean: tf.TensorInfo, total: number): { sg: Float64Array; sgx: Float64Array } {
    const run = this.simd.gradSums(gate?.activation ?? 'none');
    // The loop subtracts the mean from a table indexed like the others: repeated across the period.
    this.table(this.io.read(mean));
    const [sg, sgx] = this.sumsFrom(() =>
      run(this.address(dy), gate === null ? 0 : this.address(gate.y), this.address(x), this.params, 4 * total, 4 * this.P, this.acc),
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
      4 * this.P,
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
