import { describe, expect, it } from 'vitest';
import { assemble, FunctionBuilder, Simd } from '../../../main/engine/wasm-kernels/wasm-assembler.js';

const Wasm = (
  globalThis as unknown as {
    WebAssembly: {
      Memory: new (d: { initial: number }) => { buffer: ArrayBuffer };
      Module: new (b: Uint8Array) => object;
      Instance: new (m: object, i: object) => { exports: Record<string, (...a: number[]) => void> };
    };
  }
).WebAssembly;

function instantiate(functions: FunctionBuilder[]): { memory: { buffer: ArrayBuffer }; exports: Record<string, (...a: number[]) => void> } {
  const memory = new Wasm.Memory({ initial: 1 });
  const { exports } = new Wasm.Instance(new Wasm.Module(assemble(functions)), { env: { memory } });
  return { memory, exports };
}

describe('the WebAssembly assembler', () => {
  it('encodes constants of every size and sign (LEB128) and indexes locals past 127', () => {
    const values = [0, 1, -1, 63, 64, -64, -65, 127, 128, 300, -300, 65535, 2 ** 30, -(2 ** 31), 2 ** 31 - 1];
    const f = new FunctionBuilder('store', 1);
    // 130 locals so that the last index needs two bytes.
    const locals = Array.from({ length: 130 }, () => f.i32());
    const last = locals[locals.length - 1]!;
    values.forEach((v, i) => {
      f.const(v).set(last);
      // Local `last` to (address argument + 4i).
      f.get(0)
        .const(4 * i)
        .add()
        .get(last)
        .storeI32();
    });
    const { memory, exports } = instantiate([f]);
    exports['store']!(64);
    expect(Array.from(new Int32Array(memory.buffer, 64, values.length))).toEqual(values);
  });

  it('runs loops and lane operations: an f32x4 multiply-add over a buffer', () => {
    // y[k] = y[k] + a[k]·b[k] for k < n, four lanes at a time.
    const f = new FunctionBuilder('fma', 4);
    const [a, b, y, bytes] = [0, 1, 2, 3];
    const k = f.i32();
    f.block().loop();
    f.get(k).get(bytes).geU().brIf(1);
    f.get(y).get(k).add();
    f.get(y).get(k).add().load();
    f.get(a).get(k).add().load().get(b).get(k).add().load().simd(Simd.f32x4Mul);
    f.simd(Simd.f32x4Add).store();
    f.get(k).const(16).add().set(k);
    f.br(0).end().end();
    const { memory, exports } = instantiate([f]);
    const n = 12;
    const view = (at: number): Float32Array => new Float32Array(memory.buffer, at, n);
    view(0).set(Array.from({ length: n }, (_, i) => i + 1));
    view(256).set(Array.from({ length: n }, (_, i) => 0.5 * i));
    view(512).set(Array.from({ length: n }, () => 10));
    exports['fma']!(0, 256, 512, 4 * n);
    expect(Array.from(view(512))).toEqual(Array.from({ length: n }, (_, i) => 10 + (i + 1) * 0.5 * i));
  });

  it('runs scalar f32 arithmetic, eqz, float splats and the lane min and less-than: a ReLU6 and its gate', () => {
    // y[k] = min(max(x[k], 0), 6) and g[k] = (0 < y[k] < 6) ? 1.0 : 0 by lanes; s = Σ x·x by scalars.
    const f = new FunctionBuilder('relu6', 5);
    const [x, y, g, s, bytes] = [0, 1, 2, 3, 4];
    const k = f.i32();
    const v = f.v128();
    const acc = f.f32();
    f.zeroF32().set(acc);
    f.block().loop();
    f.get(k).get(bytes).geU().brIf(1);
    f.get(x).get(k).add().load().zero().simd(Simd.f32x4Max).splat(6).simd(Simd.f32x4Min).set(v);
    f.get(y).get(k).add().get(v).store();
    f.get(g).get(k).add();
    f.get(v).zero().simd(Simd.f32x4Gt).get(v).splat(6).simd(Simd.f32x4Lt).simd(Simd.v128And).splat(1).simd(Simd.v128And);
    f.store();
    f.get(k).const(16).add().set(k);
    f.br(0).end().end();
    // The scalar sum, counting k down to zero.
    f.block().loop();
    f.get(k).eqz().brIf(1);
    f.get(k).const(4).sub().set(k);
    f.get(acc).get(x).get(k).add().loadF32().get(x).get(k).add().loadF32().mulF32().addF32().set(acc);
    f.br(0).end().end();
    f.get(s).get(acc).storeF32();
    const { memory, exports } = instantiate([f]);
    const n = 8;
    const input = [-2, 0, 0.5, 5.99, 6, 7.5, 3, -0.25];
    new Float32Array(memory.buffer, 0, n).set(input);
    exports['relu6']!(0, 256, 512, 768, 4 * n);
    expect(Array.from(new Float32Array(memory.buffer, 256, n))).toEqual(input.map((a) => Math.fround(Math.min(Math.max(a, 0), 6))));
    expect(Array.from(new Float32Array(memory.buffer, 512, n))).toEqual([0, 0, 1, 1, 0, 0, 1, 0]);
    expect(new Float32Array(memory.buffer, 768, 1)[0]).toBeCloseTo(
      input.reduce((a, b) => a + b * b, 0),
      4,
    );
  });

  it('copies bytes with memory.copy, overlapping ranges included', () => {
    const f = new FunctionBuilder('copy', 3);
    f.get(0).get(1).get(2).memoryCopy();
    const { memory, exports } = instantiate([f]);
    const bytes = new Uint8Array(memory.buffer);
    bytes.set([1, 2, 3, 4, 5, 6, 7], 100);
    exports['copy']!(200, 100, 7);
    expect(Array.from(bytes.subarray(200, 208))).toEqual([1, 2, 3, 4, 5, 6, 7, 0]);
    // Forward over itself, as memmove does.
    exports['copy']!(102, 100, 5);
    expect(Array.from(bytes.subarray(100, 107))).toEqual([1, 2, 1, 2, 3, 4, 5]);
  });
});
