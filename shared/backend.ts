/** Where the engine's tensors live: CUDA, WebGPU, native CPU, WebAssembly or plain JS. */
export type BackendKind = 'gpu' | 'webgpu' | 'node' | 'wasm' | 'cpu';

/**
 * The order the engine tries backends in, fastest first: CUDA (only where
 * tfjs-node-gpu really places its work on a GPU), WebGPU on a hardware
 * adapter, native CPU, WebAssembly, plain JavaScript.
 */
export const BACKEND_ORDER: readonly BackendKind[] = ['gpu', 'webgpu', 'node', 'wasm', 'cpu'];

/** A backend ahead of the one used, and why it was not used (shown wherever the backend is). */
export interface BackendSkip {
  kind: BackendKind;
  reason: string;
}

export interface BackendInfo {
  kind: BackendKind;
  /** The TensorFlow.js backend name. */
  name: string;
  /** What the UI's badge shows: GPU only when the work really runs on a GPU. */
  label: 'GPU' | 'CPU' | 'WASM';
  /** A sentence for people: the device and the library behind it. */
  device: string;
  /** Every backend ahead of this one in BACKEND_ORDER, with why it was not used. */
  skipped: BackendSkip[];
}

/** The package or API behind each backend, as people know it. */
export const BACKEND_TITLES: Readonly<Record<BackendKind, string>> = {
  gpu: 'tfjs-node-gpu (CUDA)',
  webgpu: 'WebGPU (Dawn)',
  node: 'tfjs-node (native CPU)',
  wasm: 'WebAssembly',
  cpu: 'JavaScript CPU',
};

/**
 * One line per backend passed over, "tfjs-node-gpu (CUDA): libcudart.so.11.0
 * not found …"; backends left untried because another was forced share one line.
 */
export function skipLines(info: Pick<BackendInfo, 'skipped'>): string[] {
  const untried = info.skipped.filter((s) => s.reason.startsWith('not tried: '));
  const lines = info.skipped.filter((s) => !untried.includes(s)).map((s) => `${BACKEND_TITLES[s.kind]}: ${s.reason}`);
  if (untried.length > 0) {
    const why = untried[0]!.reason.slice('not tried: '.length);
    lines.unshift(`not tried (${why}): ${untried.map((s) => BACKEND_TITLES[s.kind]).join(', ')}`);
  }
  return lines;
}
