import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { registerWasmTrainingKernels } from './wasm-kernels/register.js';
import type { BackendInfo, BackendKind } from '../../shared/backend.js';
import { detectorsFor, NativeState, type Detection } from './backends/detect.js';
import type { BackendLoaders } from './backends/loaders.js';
import { parseForced, selectBackend } from './backends/select.js';
import { systemLoaders } from './backends/system-loaders.js';
import { activateWebgpu } from './backends/webgpu-backend.js';

export { releaseBackends } from './backends/release.js';

let active: BackendInfo | null = null;
let loading: Promise<BackendInfo> | null = null;

/** The wasm backend as a run reports it. */
export async function describeWasm(): Promise<Omit<BackendInfo, 'skipped'>> {
  // A feature test of the runtime, answered before the backend starts.
  const simd = (await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT' as never)) === true;
  return { kind: 'wasm', name: 'wasm', label: 'WASM', device: `CPU (WebAssembly${simd ? ' SIMD' : ''}, one thread per engine)` };
}

/** The plain JavaScript backend as a run reports it. */
export function describeCpu(): Omit<BackendInfo, 'skipped'> {
  return { kind: 'cpu', name: 'cpu', label: 'CPU', device: 'CPU (plain JavaScript kernels)' };
}

async function activate(kind: BackendKind, detection: Detection & { usable: true }): Promise<string | null> {
  try {
    switch (kind) {
      case 'gpu':
      case 'node':
        return (await tf.setBackend('tensorflow')) ? null : 'the tensorflow backend did not initialise';
      case 'webgpu':
        if (detection.webgpu === undefined) return 'detection found no adapter';
        return await activateWebgpu(detection.webgpu.gpu, detection.webgpu.adapter);
      case 'wasm':
        registerWasmTrainingKernels();
        return (await tf.setBackend('wasm')) ? null : 'the wasm backend did not initialise';
      case 'cpu':
        return (await tf.setBackend('cpu')) ? null : 'the cpu backend did not initialise';
    }
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}

/**
 * Loads the fastest TensorFlow.js backend that can run here — tfjs-node-gpu
 * where it really sees a CUDA GPU, WebGPU on a hardware adapter, tfjs-node,
 * wasm, plain cpu — or the one `forced` (ADJOIN_BACKEND) names, and records
 * why each faster one was not used. Idempotent within a process, also for
 * callers that ask at the same time (two jobs in one process).
 */
export function initBackend(forced: string | undefined = process.env['ADJOIN_BACKEND'], loaders: BackendLoaders = systemLoaders): Promise<BackendInfo> {
  loading ??= load(forced, loaders).catch((e: unknown) => {
    loading = null;
    throw e;
  });
  return loading;
}

async function load(forced: string | undefined, loaders: BackendLoaders): Promise<BackendInfo> {
  // Production mode: no debug-mode checks, and no console nudges to install tfjs-node.
  tf.enableProdMode();
  const want = parseForced(forced);
  // A software WebGPU adapter computes on the CPU, slower than WebAssembly: only when asked for.
  const detectors = detectorsFor(loaders, new NativeState(), { allowSoftware: want === 'webgpu', wasm: describeWasm, cpu: describeCpu });
  const info = await selectBackend(want, detectors, activate);
  await tf.ready();
  active = info;
  return active;
}

export function activeBackend(): BackendInfo | null {
  return active;
}
