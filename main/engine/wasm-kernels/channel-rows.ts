import { assemble, FunctionBuilder } from './wasm-assembler.js';
import { HeapModule, type WasmMemory } from './wasm-runtime.js';

/**
 * Copies the leading `n` channels of every pixel between NHWC tensors of
 * different channel counts: `rows` rows of n floats, `fromWidth` floats apart
 * in `from` and `toWidth` apart in `to`. The SIMD kernels handle output
 * channels in fours; other counts run on a tensor padded to a multiple of
 * four (zero channels) and are compacted after, and these copies are what
 * that costs. On the wasm heap it is one memory.copy per row: a JavaScript
 * loop over a small path's 14 channels took as long as the convolution it
 * served. `memory` is the heap both views lie in (null: not a wasm heap).
 */
export function copyChannels(
  memory: WasmMemory | null,
  from: Float32Array,
  to: Float32Array,
  rows: number,
  n: number,
  fromWidth: number,
  toWidth: number,
): void {
  if (rows * fromWidth > from.length || rows * toWidth > to.length || n > fromWidth || n > toWidth) {
    throw new Error(`copyChannels: ${rows} rows of ${n} channels do not fit ${from.length} floats ${fromWidth} apart, or ${to.length} floats ${toWidth} apart`);
  }
  const onHeap = memory !== null && from.buffer === memory.buffer && to.buffer === memory.buffer;
  const copyRows = onHeap ? module.on(memory) : null;
  if (copyRows !== null) {
    copyRows(from.byteOffset, to.byteOffset, rows, 4 * n, 4 * fromWidth, 4 * toWidth);
    return;
  }
  for (let r = 0, i = 0, o = 0; r < rows; r++, i += fromWidth, o += toWidth) {
    for (let k = 0; k < n; k++) to[o + k] = from[i + k]!;
  }
}

type CopyRows = (from: number, to: number, rows: number, bytes: number, fromStride: number, toStride: number) => void;

/** for (r = 0; r < rows; r++) memory.copy(to + r·toStride, from + r·fromStride, bytes), all in bytes. */
function build(): FunctionBuilder {
  const f = new FunctionBuilder('copyRows', 6);
  const [from, to, rows, bytes, fromStride, toStride] = [0, 1, 2, 3, 4, 5];
  const r = f.i32();
  f.forRange(
    r,
    () => f.const(0),
    () => f.get(rows),
    1,
    () => {
      f.get(to).get(from).get(bytes).memoryCopy();
      f.get(from).get(fromStride).add().set(from);
      f.get(to).get(toStride).add().set(to);
    },
  );
  return f;
}

const module = new HeapModule<CopyRows>(
  () => assemble([build()]),
  (exports) => exports['copyRows'] as CopyRows,
);
