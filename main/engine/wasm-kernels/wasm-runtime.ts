import type * as tf from '@tensorflow/tfjs';

/**
 * Running our own WebAssembly modules on the wasm backend's heap: the few
 * members of the WebAssembly JS API used (the engine compiles without the
 * DOM library), the heap itself, and modules instantiated once per heap.
 */
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
}

interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
  Memory: abstract new (...args: never[]) => WasmMemory;
}

const Wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

type HeapBackend = tf.KernelBackend & { wasm?: { asm?: { memory?: unknown } } };

/** The wasm backend's memory, where its tensors live; null for another backend or a build that hides it. */
export function heapOf(backend: tf.KernelBackend): WasmMemory | null {
  const memory = (backend as HeapBackend).wasm?.asm?.memory;
  return memory instanceof Wasm.Memory ? memory : null;
}

/**
 * A module importing `env.memory`, compiled once and instantiated once per
 * heap; null where the engine refuses it (no SIMD, or a shared heap).
 */
export class HeapModule<T> {
  private compiled: object | null = null;
  private readonly instances = new WeakMap<WasmMemory, T | null>();

  constructor(
    private readonly bytes: () => Uint8Array,
    private readonly bind: (exports: Record<string, unknown>) => T,
  ) {}

  on(memory: WasmMemory): T | null {
    if (this.instances.has(memory)) return this.instances.get(memory)!;
    let bound: T | null;
    try {
      this.compiled ??= new Wasm.Module(this.bytes());
      bound = this.bind(new Wasm.Instance(this.compiled, { env: { memory } }).exports);
    } catch {
      bound = null;
    }
    this.instances.set(memory, bound);
    return bound;
  }
}
