/** Where the engine's tensors live: CUDA, native CPU, WebAssembly or plain JS. */
export type BackendKind = 'gpu' | 'node' | 'wasm' | 'cpu';

export interface BackendInfo {
  kind: BackendKind;
  /** The TensorFlow.js backend name. */
  name: string;
  /** What the UI's badge shows: GPU, CPU or WASM. */
  label: 'GPU' | 'CPU' | 'WASM';
  /** A sentence for people: the device and the library behind it. */
  device: string;
}
