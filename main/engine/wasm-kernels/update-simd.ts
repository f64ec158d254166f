import { assemble, FunctionBuilder, Simd } from './wasm-assembler.js';
import { HeapModule, type WasmMemory } from './wasm-runtime.js';

/**
 * The optimisers' element-wise updates (fused-updates.ts) as WebAssembly
 * SIMD loops over one parameter tensor on the wasm heap, four floats at a
 * time. Each lane operation rounds once, as the tfjs op it stands for does,
 * in the same order: the results are those of the per-parameter ops, bit for
 * bit. One function per variant, so that an update without weight decay
 * never adds p·0 (which would turn a gradient of −0 into +0).
 *
 * Arguments are byte addresses in the backend's memory and `bytes`, the
 * length processed (a multiple of 16). `consts` points at the float32
 * scalars, in the order of SGD_CONSTANTS or ADAM_CONSTANTS.
 */
export interface UpdateSimdExports {
  sgd(variant: SgdVariant): (p: number, g: number, b: number, pOut: number, bOut: number, bytes: number, consts: number) => void;
  adam(weightDecay: boolean): (p: number, g: number, m: number, v: number, pOut: number, mOut: number, vOut: number, bytes: number, consts: number) => void;
}

/** The momentum buffer: none (no momentum), its first step (it starts at the gradient), or a running one. */
export type MomentumMode = 'none' | 'first' | 'running';

export interface SgdVariant {
  weightDecay: boolean;
  momentum: MomentumMode;
  nesterov: boolean;
}

export const SGD_CONSTANTS = ['weightDecay', 'momentum', 'lr'] as const;
export const ADAM_CONSTANTS = ['weightDecay', 'beta1', 'oneMinusBeta1', 'beta2', 'oneMinusBeta2', 'epsilon', 'stepSize', 'sqrtCorrection2'] as const;

const MODES: readonly MomentumMode[] = ['none', 'first', 'running'];
const SGD_VARIANTS: SgdVariant[] = [false, true].flatMap((weightDecay) =>
  MODES.flatMap((momentum) => (momentum === 'none' ? [false] : [false, true]).map((nesterov) => ({ weightDecay, momentum, nesterov }))),
);

function sgdName(v: SgdVariant): string {
  return `sgd_${v.weightDecay ? 'wd' : 'nowd'}_${v.momentum}${v.nesterov ? '_nesterov' : ''}`;
}

/** g = grad (+ p·wd), into local `g`; `pv` holds p. */
function decayedGradient(f: FunctionBuilder, grad: number, k: number, pv: number, g: number, wd: number | null): void {
  f.get(grad).get(k).add().load();
  if (wd !== null) f.get(pv).get(wd).simd(Simd.f32x4Mul).simd(Simd.f32x4Add);
  f.set(g);
}

/** for (k = 0; k < bytes; k += 16) body(k) */
function lanes(f: FunctionBuilder, bytes: number, body: (k: number) => void): void {
  const k = f.i32();
  f.forRange(
    k,
    () => f.const(0),
    () => f.get(bytes),
    16,
    () => body(k),
  );
}

function sgd(v: SgdVariant): FunctionBuilder {
  const f = new FunctionBuilder(sgdName(v), 7);
  const [p, grad, b, pOut, bOut, bytes, consts] = [0, 1, 2, 3, 4, 5, 6];
  const [wd, mu, lr] = [f.v128(), f.v128(), f.v128()];
  f.get(consts).loadSplat(0).set(wd);
  f.get(consts).loadSplat(4).set(mu);
  f.get(consts).loadSplat(8).set(lr);
  const [pv, g, next, step] = [f.v128(), f.v128(), f.v128(), f.v128()];
  lanes(f, bytes, (k) => {
    f.get(p).get(k).add().load().set(pv);
    decayedGradient(f, grad, k, pv, g, v.weightDecay ? wd : null);
    if (v.momentum === 'none') {
      f.get(g).set(step);
    } else {
      // next = b·μ + g (the first step: g); the step is g + next·μ (Nesterov) or next.
      if (v.momentum === 'first') f.get(g).set(next);
      else f.get(b).get(k).add().load().get(mu).simd(Simd.f32x4Mul).get(g).simd(Simd.f32x4Add).set(next);
      f.get(bOut).get(k).add().get(next).store();
      if (v.nesterov) f.get(g).get(next).get(mu).simd(Simd.f32x4Mul).simd(Simd.f32x4Add).set(step);
      else f.get(next).set(step);
    }
    f.get(pOut).get(k).add().get(pv).get(step).get(lr).simd(Simd.f32x4Mul).simd(Simd.f32x4Sub).store();
  });
  return f;
}

function adam(weightDecay: boolean): FunctionBuilder {
  const f = new FunctionBuilder(`adam_${weightDecay ? 'wd' : 'nowd'}`, 9);
  const [p, grad, m, v, pOut, mOut, vOut, bytes, consts] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const c = ADAM_CONSTANTS.map(() => f.v128());
  c.forEach((local, i) =>
    f
      .get(consts)
      .loadSplat(4 * i)
      .set(local),
  );
  const [wd, b1, c1, b2, c2, eps, rate, corr2] = c as [number, number, number, number, number, number, number, number];
  const [pv, g, mk, vk] = [f.v128(), f.v128(), f.v128(), f.v128()];
  lanes(f, bytes, (k) => {
    f.get(p).get(k).add().load().set(pv);
    decayedGradient(f, grad, k, pv, g, weightDecay ? wd : null);
    // m = m·β1 + g·(1 − β1); v = v·β2 + (g·g)·(1 − β2)
    f.get(m).get(k).add().load().get(b1).simd(Simd.f32x4Mul).get(g).get(c1).simd(Simd.f32x4Mul).simd(Simd.f32x4Add).set(mk);
    f.get(v).get(k).add().load().get(b2).simd(Simd.f32x4Mul).get(g).get(g).simd(Simd.f32x4Mul).get(c2).simd(Simd.f32x4Mul).simd(Simd.f32x4Add).set(vk);
    f.get(mOut).get(k).add().get(mk).store();
    f.get(vOut).get(k).add().get(vk).store();
    // p − (m / (√v / √(1 − β2ᵗ) + ε))·stepSize
    f.get(pOut).get(k).add().get(pv);
    f.get(mk).get(vk).simd(Simd.f32x4Sqrt).get(corr2).simd(Simd.f32x4Div).get(eps).simd(Simd.f32x4Add).simd(Simd.f32x4Div);
    f.get(rate).simd(Simd.f32x4Mul).simd(Simd.f32x4Sub).store();
  });
  return f;
}

type Fn<A extends unknown[]> = (...args: A) => void;

const module = new HeapModule<UpdateSimdExports>(
  () => assemble([...SGD_VARIANTS.map(sgd), adam(false), adam(true)]),
  (exports) => ({
    sgd: (variant) =>
      exports[sgdName({ ...variant, nesterov: variant.momentum !== 'none' && variant.nesterov })] as Fn<
        [number, number, number, number, number, number, number]
      >,
    adam: (weightDecay) => exports[`adam_${weightDecay ? 'wd' : 'nowd'}`] as Fn<[number, number, number, number, number, number, number, number, number]>,
  }),
);

/** The loops bound to `memory` (the wasm backend's heap), or null where this engine has no wasm SIMD. */
export function updateSimd(memory: WasmMemory): UpdateSimdExports | null {
  return module.on(memory);
}
