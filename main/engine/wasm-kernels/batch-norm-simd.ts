import { assertNever } from '../../../shared/errors.js';
import { ACTIVATIONS, type Activation, RELU6_CAP } from '../activation.js';
import { assemble, FunctionBuilder, Simd } from './wasm-assembler.js';
import { HeapModule, type WasmMemory } from './wasm-runtime.js';

/**
 * The training batch norm's four passes over NHWC memory as WebAssembly SIMD
 * loops, run directly on the wasm backend's heap, four channels per lane
 * vector (so the channel count must be a multiple of 4). Every function walks
 * the tensor in 16-byte steps `e` while `j` cycles over the channels' bytes.
 * Per-channel sums are kept in double precision as the JavaScript loops do.
 *
 * Arguments are byte addresses in the backend's memory; `total` is the
 * tensor's size in bytes and `c4` one pixel's (4·C). Per-channel tables:
 * - sums: f64 [2C], the first sum at `acc`, the second at `acc + 8C`;
 * - normalize: f32 mul [C] then add [C] at `params`;
 * - input gradient: f32 mean, k, a, b [C each] at `params`.
 */
export interface BatchNormSimdExports {
  /** acc += Σx, acc₂ += Σx². */
  moments(x: number, total: number, c4: number, acc: number): void;
  /** acc += Σg, acc₂ += Σg·(x − mean) with g = dy gated by the activation's output y. */
  gradSums(activation: Activation): (dy: number, y: number, x: number, mean: number, total: number, c4: number, acc: number) => void;
  /** y = act(x·mul + add + r?). */
  normalize(variant: NormalizeVariant): (x: number, r: number, y: number, params: number, total: number, c4: number) => void;
  /** dx = k·(g − b − (x − mean)·a), dr = g, with g = dy gated by the activation's output y. */
  inputGrad(variant: NormalizeVariant): (dy: number, y: number, x: number, params: number, dx: number, dr: number, total: number, c4: number) => void;
}

export interface NormalizeVariant {
  activation: Activation;
  residual: boolean;
}

function variantName(base: string, v: NormalizeVariant): string {
  return `${base}_${v.activation}${v.residual ? '_residual' : ''}`;
}

const VARIANTS: NormalizeVariant[] = ACTIVATIONS.flatMap((activation) => [false, true].map((residual) => ({ activation, residual })));

/** for (e = 0, j = 0; e < total; e += 16, j = (j + 16) mod c4) body(e, j) */
function channelLoop(f: FunctionBuilder, total: number, c4: number, body: (e: number, j: number) => void): void {
  const e = f.i32();
  const j = f.i32();
  f.block().loop();
  f.get(e).get(total).geU().brIf(1);
  body(e, j);
  f.get(e).const(16).add().set(e);
  f.const(0).get(j).const(16).add().tee(j).get(j).get(c4).eq().select().set(j);
  f.br(0).end().end();
}

/** acc[c..c+4) += first and acc₂[c..c+4) += first·squareOf (first², without it), in f64. */
function accumulate(f: FunctionBuilder, acc: number, c4: number, j: number, first: number, squareOf: number | null): void {
  const a = f.i32();
  const lo = f.v128();
  const hi = f.v128();
  const lo2 = f.v128();
  const hi2 = f.v128();
  f.get(first).simd(Simd.f64x2PromoteLowF32x4).set(lo);
  f.high64(first).simd(Simd.f64x2PromoteLowF32x4).set(hi);
  if (squareOf === null) {
    f.get(lo).set(lo2).get(hi).set(hi2);
  } else {
    f.get(squareOf).simd(Simd.f64x2PromoteLowF32x4).set(lo2);
    f.high64(squareOf).simd(Simd.f64x2PromoteLowF32x4).set(hi2);
  }
  // Channel c's double sits at 8c = 2j bytes.
  f.get(acc).get(j).const(1).shl().add().set(a);
  f.get(a).get(a).load(0).get(lo).simd(Simd.f64x2Add).store(0);
  f.get(a).get(a).load(16).get(hi).simd(Simd.f64x2Add).store(16);
  f.get(a).get(c4).const(1).shl().add().set(a);
  f.get(a).get(a).load(0).get(lo).get(lo2).simd(Simd.f64x2Mul).simd(Simd.f64x2Add).store(0);
  f.get(a).get(a).load(16).get(hi).get(hi2).simd(Simd.f64x2Mul).simd(Simd.f64x2Add).store(16);
}

function moments(): FunctionBuilder {
  const f = new FunctionBuilder('moments', 4);
  const [x, total, c4, acc] = [0, 1, 2, 3];
  const v = f.v128();
  channelLoop(f, total, c4, (e, j) => {
    f.get(x).get(e).add().load().set(v);
    accumulate(f, acc, c4, j, v, null);
  });
  return f;
}

/** g = dy where the activation's output y lies in its linear range: y > 0 (ReLU), 0 < y < 6 (ReLU6). */
function gradient(f: FunctionBuilder, dy: number, y: number, e: number, activation: Activation, g: number): void {
  f.get(dy).get(e).add().load();
  switch (activation) {
    case 'none':
      break;
    case 'relu':
      f.get(y).get(e).add().load().zero().simd(Simd.f32x4Gt).simd(Simd.v128And);
      break;
    case 'relu6':
      f.get(y).get(e).add().load().zero().simd(Simd.f32x4Gt).simd(Simd.v128And);
      f.get(y).get(e).add().load().splat(RELU6_CAP).simd(Simd.f32x4Lt).simd(Simd.v128And);
      break;
    default:
      assertNever(activation, 'activation');
  }
  f.set(g);
}

/** The activation on the value on top of the stack. */
function activate(f: FunctionBuilder, activation: Activation): void {
  if (activation === 'none') return;
  f.zero().simd(Simd.f32x4Max);
  if (activation === 'relu6') f.splat(RELU6_CAP).simd(Simd.f32x4Min);
}

function gradSums(activation: Activation): FunctionBuilder {
  const f = new FunctionBuilder(`gradSums_${activation}`, 7);
  const [dy, y, x, mean, total, c4, acc] = [0, 1, 2, 3, 4, 5, 6];
  const g = f.v128();
  const xm = f.v128();
  channelLoop(f, total, c4, (e, j) => {
    gradient(f, dy, y, e, activation, g);
    f.get(x).get(e).add().load().get(mean).get(j).add().load().simd(Simd.f32x4Sub).set(xm);
    accumulate(f, acc, c4, j, g, xm);
  });
  return f;
}

function normalize(v: NormalizeVariant): FunctionBuilder {
  const f = new FunctionBuilder(variantName('normalize', v), 6);
  const [x, r, y, params, total, c4] = [0, 1, 2, 3, 4, 5];
  const p = f.i32();
  channelLoop(f, total, c4, (e, j) => {
    f.get(params).get(j).add().set(p);
    f.get(y).get(e).add();
    f.get(x).get(e).add().load().get(p).load().simd(Simd.f32x4Mul);
    f.get(p).get(c4).add().load().simd(Simd.f32x4Add);
    if (v.residual) f.get(r).get(e).add().load().simd(Simd.f32x4Add);
    activate(f, v.activation);
    f.store();
  });
  return f;
}

function inputGrad(v: NormalizeVariant): FunctionBuilder {
  const f = new FunctionBuilder(variantName('inputGrad', v), 8);
  const [dy, y, x, params, dx, dr, total, c4] = [0, 1, 2, 3, 4, 5, 6, 7];
  const p = f.i32();
  const g = f.v128();
  channelLoop(f, total, c4, (e, j) => {
    gradient(f, dy, y, e, v.activation, g);
    if (v.residual) f.get(dr).get(e).add().get(g).store();
    f.get(params).get(j).add().set(p);
    f.get(dx).get(e).add();
    // k · ((g − b) − (x − mean)·a), the tables at params + {c4, 3·c4, 0, 2·c4}.
    f.get(p).get(c4).add().load();
    f.get(g).get(p).get(c4).const(3).mul().add().load().simd(Simd.f32x4Sub);
    f.get(x).get(e).add().load().get(p).load().simd(Simd.f32x4Sub);
    f.get(p).get(c4).const(1).shl().add().load().simd(Simd.f32x4Mul);
    f.simd(Simd.f32x4Sub).simd(Simd.f32x4Mul);
    f.store();
  });
  return f;
}

type Fn<A extends unknown[]> = (...args: A) => void;

const module = new HeapModule<BatchNormSimdExports>(
  () => assemble([moments(), ...ACTIVATIONS.map(gradSums), ...VARIANTS.map(normalize), ...VARIANTS.map(inputGrad)]),
  (exports) => ({
    moments: exports['moments'] as BatchNormSimdExports['moments'],
    gradSums: (activation) => exports[`gradSums_${activation}`] as Fn<[number, number, number, number, number, number, number]>,
    normalize: (v) => exports[variantName('normalize', v)] as Fn<[number, number, number, number, number, number]>,
    inputGrad: (v) => exports[variantName('inputGrad', v)] as Fn<[number, number, number, number, number, number, number, number]>,
  }),
);

/** The loops bound to `memory` (the wasm backend's heap), or null where this engine has no wasm SIMD. */
export function batchNormSimd(memory: WasmMemory): BatchNormSimdExports | null {
  return module.on(memory);
}
