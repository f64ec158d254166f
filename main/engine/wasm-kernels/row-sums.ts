import { assemble, FunctionBuilder, Simd } from './wasm-assembler.js';
import { HeapModule, type WasmMemory } from './wasm-runtime.js';

/**
 * Element-wise sums over rows of float32 matrices with their own row
 * strides, as one float32 add per element (the result of the tfjs Add it
 * stands for, bit for bit): four lanes at a time on the wasm heap, the last
 * few values of a row and other memory in JavaScript. `memory` is the heap
 * the views lie in (null: not a wasm heap).
 *
 * dst[r, k] = a[r, k] + b[r, k] for r < rows, k < n; with `b` null, a + 0
 * (which is a itself, but for −0, which becomes +0 as it does in the Add
 * of a zero-padded tensor).
 */
export function addRows(
  memory: WasmMemory | null,
  a: Float32Array,
  b: Float32Array | null,
  dst: Float32Array,
  shape: { rows: number; n: number; aWidth: number; bWidth: number; dstWidth: number },
): void {
  const { rows, n, aWidth, bWidth, dstWidth } = shape;
  const fits = (v: Float32Array, width: number): boolean => rows === 0 || (rows - 1) * width + n <= v.length;
  if (!fits(a, aWidth) || (b !== null && !fits(b, bWidth)) || !fits(dst, dstWidth)) {
    throw new Error(`addRows: ${rows} rows of ${n} do not fit the views (${a.length}, ${b?.length ?? 0}, ${dst.length} floats)`);
  }
  const onHeap = memory !== null && [a, b ?? a, dst].every((v) => v.buffer === memory.buffer);
  const simd = onHeap ? module.on(memory) : null;
  const bulk = simd === null ? 0 : n - (n % 4);
  if (simd !== null && bulk > 0 && rows > 0) {
    const args = [a.byteOffset, dst.byteOffset, rows, 4 * bulk, 4 * aWidth, 4 * dstWidth] as const;
    if (b === null) simd.plusZero(...args);
    else simd.add(a.byteOffset, b.byteOffset, dst.byteOffset, rows, 4 * bulk, 4 * aWidth, 4 * bWidth, 4 * dstWidth);
  }
  for (let r = 0; r < rows; r++) {
    const [ia, ib, id] = [r * aWidth, r * bWidth, r * dstWidth];
    for (let k = bulk; k < n; k++) dst[id + k] = b === null ? a[ia + k]! + 0 : a[ia + k]! + b[ib + k]!;
  }
}

interface RowSumsExports {
  add(a: number, b: number, dst: number, rows: number, bytes: number, aStride: number, bStride: number, dstStride: number): void;
  plusZero(a: number, dst: number, rows: number, bytes: number, aStride: number, dstStride: number): void;
}

/** Row by row, 16 bytes at a time: dst = a + b (or a + 0). */
function build(withB: boolean): FunctionBuilder {
  const f = new FunctionBuilder(withB ? 'add' : 'plusZero', withB ? 8 : 6);
  const [a, b, dst, rows, bytes, aStride, bStride, dstStride] = withB ? [0, 1, 2, 3, 4, 5, 6, 7] : [0, -1, 1, 2, 3, 4, -1, 5];
  const [r, k] = [f.i32(), f.i32()];
  f.forRange(
    r,
    () => f.const(0),
    () => f.get(rows),
    1,
    () => {
      f.forRange(
        k,
        () => f.const(0),
        () => f.get(bytes),
        16,
        () => {
          f.get(dst).get(k).add();
          f.get(a).get(k).add().load();
          if (withB) f.get(b).get(k).add().load();
          else f.zero();
          f.simd(Simd.f32x4Add).store();
        },
      );
      f.get(a).get(aStride).add().set(a);
      if (withB) f.get(b).get(bStride).add().set(b);
      f.get(dst).get(dstStride).add().set(dst);
    },
  );
  return f;
}

const module = new HeapModule<RowSumsExports>(
  () => assemble([build(true), build(false)]),
  (exports) => ({ add: exports['add'] as RowSumsExports['add'], plusZero: exports['plusZero'] as RowSumsExports['plusZero'] }),
);
