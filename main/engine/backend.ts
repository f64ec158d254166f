import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { registerWasmTrainingKernels } from './wasm-kernels/register.js';
import type { BackendInfo, BackendKind } from '../../shared/backend.js';

/** In order of preference; `ADJOIN_BACKEND` forces one. */
const ORDER: readonly BackendKind[] = ['gpu', 'node', 'wasm', 'cpu'];

const NATIVE_PACKAGE: Record<'gpu' | 'node', string> = {
  gpu: '@tensorflow/tfjs-node-gpu',
  node: '@tensorflow/tfjs-node',
};

let active: BackendInfo | null = null;
let loading: Promise<BackendInfo> | null = null;

function parseForced(value: string | undefined): BackendKind | null {
  if (value === undefined || value === '') return null;
  const v = value.toLowerCase();
  const aliases: Record<string, BackendKind> = {
    gpu: 'gpu',
    cuda: 'gpu',
    'tfjs-node-gpu': 'gpu',
    node: 'node',
    tensorflow: 'node',
    'tfjs-node': 'node',
    wasm: 'wasm',
    cpu: 'cpu',
  };
  const kind = aliases[v];
  if (kind === undefined) {
    throw new Error(`ADJOIN_BACKEND='${value}' is not a backend (use gpu, node, wasm or cpu)`);
  }
  return kind;
}

async function tryNative(kind: 'gpu' | 'node'): Promise<string | null> {
  try {
    // The native packages are optional dependencies: absent where libtensorflow
    // could not be downloaded at install time.
    await import(NATIVE_PACKAGE[kind]);
  } catch (e) {
    return e instanceof Error ? e.message.split('\n')[0]! : String(e);
  }
  if (!(await tf.setBackend('tensorflow'))) return 'the tensorflow backend did not initialise';
  return null;
}

function describe(kind: BackendKind): BackendInfo {
  switch (kind) {
    case 'gpu':
      return { kind, name: 'tensorflow', label: 'GPU', device: 'CUDA (libtensorflow, tfjs-node-gpu)' };
    case 'node':
      return { kind, name: 'tensorflow', label: 'CPU', device: 'CPU (native libtensorflow, tfjs-node)' };
    case 'wasm': {
      const simd = tf.env().getBool('WASM_HAS_SIMD_SUPPORT' as never);
      return { kind, name: 'wasm', label: 'WASM', device: `CPU (WebAssembly${simd ? ' SIMD' : ''}, one thread per engine)` };
    }
    case 'cpu':
      return { kind, name: 'cpu', label: 'CPU', device: 'CPU (plain JavaScript kernels)' };
  }
}

async function activate(kind: BackendKind): Promise<string | null> {
  if (kind === 'gpu' || kind === 'node') return tryNative(kind);
  if (kind === 'wasm') registerWasmTrainingKernels();
  try {
    return (await tf.setBackend(kind)) ? null : `the ${kind} backend did not initialise`;
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}

/**
 * Loads the fastest TensorFlow.js backend available: tfjs-node-gpu, then
 * tfjs-node, then wasm, then plain cpu. Idempotent within a process, also
 * for callers that ask at the same time (two jobs in one process).
 */
export function initBackend(forced: string | undefined = process.env['ADJOIN_BACKEND']): Promise<BackendInfo> {
  loading ??= load(forced).catch((e: unknown) => {
    loading = null;
    throw e;
  });
  return loading;
}

async function load(forced: string | undefined): Promise<BackendInfo> {
  // Production mode: no debug-mode checks, and no console nudges to install tfjs-node.
  tf.enableProdMode();
  const want = parseForced(forced);
  const reasons: string[] = [];
  for (const kind of want === null ? ORDER : [want]) {
    const failure = await activate(kind);
    if (failure === null) {
      await tf.ready();
      active = describe(kind);
      return active;
    }
    reasons.push(`${kind}: ${failure}`);
  }
  throw new Error(`no TensorFlow.js backend could be loaded (${reasons.join('; ')})`);
}

export function activeBackend(): BackendInfo | null {
  return active;
}
