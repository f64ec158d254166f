import { basename } from 'node:path';
import type { BackendInfo, BackendKind } from '../../../shared/backend.js';
import { DAWN_PACKAGE, type AdapterInfoLike, type AdapterLike, type BackendLoaders, type GpuLike, type NativePackage } from './loaders.js';

/**
 * Whether each backend can run here, and if not, why — in words a person can
 * act on. Detection never guesses: a GPU is reported only where one will do
 * the work (tfjs-node-gpu's own isUsingGpuDevice, the WebGPU adapter's info).
 */

export const CUDA_PACKAGE: NativePackage = '@tensorflow/tfjs-node-gpu';
export const NATIVE_CPU_PACKAGE: NativePackage = '@tensorflow/tfjs-node';

/** What tfjs-node-gpu's libtensorflow (2.9) opens at start; a missing one makes it compute on the CPU. */
export const CUDA_LIBRARIES: Readonly<Partial<Record<NodeJS.Platform, readonly string[]>>> = {
  linux: [
    'libcudart.so.11.0',
    'libcublas.so.11',
    'libcublasLt.so.11',
    'libcufft.so.10',
    'libcurand.so.10',
    'libcusolver.so.11',
    'libcusparse.so.11',
    'libcudnn.so.8',
  ],
  win32: [
    'cudart64_110.dll',
    'cublas64_11.dll',
    'cublasLt64_11.dll',
    'cufft64_10.dll',
    'curand64_10.dll',
    'cusolver64_11.dll',
    'cusparse64_11.dll',
    'cudnn64_8.dll',
  ],
};

export const CUDA_REQUIREMENT = 'libtensorflow 2.9 needs CUDA 11.2 and cuDNN 8.1 exactly';

/** A backend that can run (and what it will report), or why it cannot. */
export type Detection =
  { usable: true; info: Omit<BackendInfo, 'skipped'>; webgpu?: { gpu: GpuLike; adapter: AdapterLike } } | { usable: false; reason: string };

const no = (reason: string): Detection => ({ usable: false, reason });

function firstLine(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  return text.split('\n')[0]!.trim();
}

/**
 * Per process: the native packages loaded so far. Two libtensorflows must
 * not meet in one process, so once tfjs-node-gpu is loaded (and found no
 * GPU) the native CPU backend is its libtensorflow, not tfjs-node's.
 */
export class NativeState {
  readonly loaded = new Map<NativePackage, { facts: { isUsingGpuDevice: boolean } } | { error: string }>();

  async load(loaders: BackendLoaders, pkg: NativePackage): Promise<{ isUsingGpuDevice: boolean } | { error: string }> {
    const known = this.loaded.get(pkg);
    if (known !== undefined) return 'error' in known ? known : known.facts;
    try {
      const facts = await loaders.loadNative(pkg);
      this.loaded.set(pkg, { facts });
      return facts;
    } catch (e) {
      const error = { error: firstLine(e) };
      this.loaded.set(pkg, error);
      return error;
    }
  }
}

/** tfjs-node-gpu, only where it really computes on a CUDA GPU. */
export async function detectCuda(loaders: BackendLoaders, state: NativeState): Promise<Detection> {
  if (!loaders.installed(CUDA_PACKAGE)) {
    return no(`not installed (the optional dependency ${CUDA_PACKAGE} is dropped where its installer cannot download libtensorflow)`);
  }
  const libraries = CUDA_LIBRARIES[loaders.platform];
  if (libraries === undefined) return no(`no CUDA build for ${loaders.platform} (tfjs-node-gpu runs on Linux and Windows)`);
  const loaded = await state.load(loaders, CUDA_PACKAGE);
  if ('error' in loaded) return no(`could not be loaded: ${loaded.error}`);
  if (loaded.isUsingGpuDevice)
    return { usable: true, info: { kind: 'gpu', name: 'tensorflow', label: 'GPU', device: 'CUDA GPU (libtensorflow 2.9, tfjs-node-gpu)' } };
  const missing = libraries.filter((name) => loaders.openLibrary(name) !== null);
  if (missing.length > 0) {
    const names = missing.length > 3 ? `${missing.slice(0, 3).join(', ')} and ${missing.length - 3} more` : missing.join(', ');
    return no(`${names} not found — ${CUDA_REQUIREMENT}; without them it computes on the CPU`);
  }
  return no('loaded, but libtensorflow found no CUDA GPU it can use (no NVIDIA driver, or one too old for CUDA 11.2); it would compute on the CPU');
}

/** A software adapter computes on the CPU: Dawn marks it a fallback adapter; SwiftShader and lavapipe name themselves. */
export function isSoftwareAdapter(info: AdapterInfoLike): boolean {
  return info.isFallbackAdapter === true || /swiftshader|llvmpipe|lavapipe/i.test(`${info.vendor} ${info.architecture} ${info.device} ${info.description}`);
}

/** "NVIDIA GeForce RTX 4070 (nvidia, lovelace)" from whatever the adapter tells. */
export function adapterName(info: AdapterInfoLike): string {
  const name = info.description || info.device || info.vendor || 'unnamed adapter';
  const facts = [info.vendor, info.architecture].filter((s) => s !== '' && !name.toLowerCase().includes(s.toLowerCase()));
  return facts.length === 0 ? name : `${name} (${facts.join(', ')})`;
}

/**
 * WebGPU through Dawn: on a hardware adapter, or — only when forced — on a
 * software one (SwiftShader), which computes on the CPU more slowly than
 * WebAssembly and is never chosen on its own.
 */
export async function detectWebgpu(loaders: BackendLoaders, options: { allowSoftware: boolean }): Promise<Detection> {
  if (!loaders.installed(DAWN_PACKAGE)) return no(`not installed (the optional dependency ${DAWN_PACKAGE}, which ships Dawn)`);
  if (loaders.platform === 'linux') {
    if (loaders.openLibrary('libvulkan.so.1') !== null) {
      return no('no Vulkan loader (libvulkan.so.1): install your distribution’s Vulkan loader (Debian and Ubuntu: libvulkan1)');
    }
    if (loaders.vulkanDrivers().length === 0) {
      return no(
        'no Vulkan driver: the Vulkan loader found no driver manifest (install your GPU’s Vulkan driver: Mesa for AMD and Intel, NVIDIA’s own for NVIDIA)',
      );
    }
  }
  let gpu: GpuLike;
  try {
    gpu = await loaders.loadDawn();
  } catch (e) {
    return no(`Dawn could not be loaded: ${firstLine(e)}`);
  }
  let adapter: AdapterLike | null;
  try {
    adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  } catch (e) {
    return no(`Dawn could not look for an adapter: ${firstLine(e)}`);
  }
  if (adapter === null) {
    const drivers =
      loaders.platform === 'linux'
        ? ` (Vulkan drivers present: ${loaders
            .vulkanDrivers()
            .map((f) => basename(f))
            .join(', ')})`
        : '';
    return no(`Dawn found no adapter it can use${drivers}`);
  }
  const software = isSoftwareAdapter(adapter.info);
  const name = adapterName(adapter.info);
  if (software && !options.allowSoftware) {
    return no(
      `only a software adapter, ${name}: it computes on the CPU, slower than WebAssembly, so it is never chosen on its own (ADJOIN_BACKEND=webgpu forces it)`,
    );
  }
  const info: Omit<BackendInfo, 'skipped'> = software
    ? { kind: 'webgpu', name: 'webgpu', label: 'CPU', device: `${name}: a software WebGPU adapter computing on the CPU (Dawn; forced)` }
    : { kind: 'webgpu', name: 'webgpu', label: 'GPU', device: `${name} — WebGPU via Dawn` };
  return { usable: true, info, webgpu: { gpu, adapter } };
}

/** Native CPU: tfjs-node, or the libtensorflow of a tfjs-node-gpu that found no GPU. */
export async function detectNativeCpu(loaders: BackendLoaders, state: NativeState): Promise<Detection> {
  const viaGpuPackage = state.loaded.get(CUDA_PACKAGE);
  if (viaGpuPackage !== undefined && 'facts' in viaGpuPackage) {
    return {
      usable: true,
      info: { kind: 'node', name: 'tensorflow', label: 'CPU', device: 'CPU (native libtensorflow of tfjs-node-gpu, which found no GPU)' },
    };
  }
  if (!loaders.installed(NATIVE_CPU_PACKAGE)) {
    return no(`not installed (the optional dependency ${NATIVE_CPU_PACKAGE} is dropped where its installer cannot download libtensorflow)`);
  }
  const loaded = await state.load(loaders, NATIVE_CPU_PACKAGE);
  if ('error' in loaded) return no(`could not be loaded: ${loaded.error}`);
  return { usable: true, info: { kind: 'node', name: 'tensorflow', label: 'CPU', device: 'CPU (native libtensorflow, tfjs-node)' } };
}

export type Detectors = Record<BackendKind, () => Promise<Detection>>;

/** The detectors of every backend for one process; `allowSoftware` lets a forced webgpu take a software adapter. */
export function detectorsFor(
  loaders: BackendLoaders,
  state: NativeState,
  options: { allowSoftware: boolean; wasm: () => Promise<Omit<BackendInfo, 'skipped'>>; cpu: () => Omit<BackendInfo, 'skipped'> },
): Detectors {
  return {
    gpu: () => detectCuda(loaders, state),
    webgpu: () => detectWebgpu(loaders, { allowSoftware: options.allowSoftware }),
    node: () => detectNativeCpu(loaders, state),
    wasm: async () => ({ usable: true, info: await options.wasm() }),
    cpu: async () => ({ usable: true, info: options.cpu() }),
  };
}
