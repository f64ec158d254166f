import * as tf from '@tensorflow/tfjs';
import { createRequire } from 'node:module';
import { DAWN_PACKAGE, type BackendLoaders, type GpuLike, type NativeFacts, type NativePackage } from './loaders.js';
import { vulkanDriverManifests } from './vulkan.js';

const require = createRequire(import.meta.url);

/** The parts of tfjs-node's backend that say where it computes. */
interface NativeBackend {
  isUsingGpuDevice?: boolean;
  binding?: { isUsingGpuDevice?: () => boolean };
}

interface DawnModule {
  create(options: string[]): GpuLike;
  globals: Record<string, unknown>;
}

/** The real machine: packages from node_modules, the system's dynamic loader, Vulkan's manifests, Dawn. */
export const systemLoaders: BackendLoaders = {
  platform: process.platform,
  installed(pkg) {
    try {
      require.resolve(`${pkg}/package.json`);
      return true;
    } catch {
      return false;
    }
  },
  async loadNative(pkg: NativePackage): Promise<NativeFacts> {
    const name: string = pkg;
    await import(name);
    // The package registers the 'tensorflow' backend; creating it asks libtensorflow for its devices.
    const backend = tf.findBackend('tensorflow') as (tf.KernelBackend & NativeBackend) | null;
    if (backend === null) throw new Error(`${pkg} registered no tensorflow backend`);
    const gpu = typeof backend.isUsingGpuDevice === 'boolean' ? backend.isUsingGpuDevice : (backend.binding?.isUsingGpuDevice?.() ?? false);
    return { isUsingGpuDevice: gpu };
  },
  openLibrary(name) {
    try {
      process.dlopen({ exports: {} } as NodeJS.Module, name);
      return null;
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      // The library opened; it is simply not a Node addon.
      return /did not self-register/i.test(message) ? null : message;
    }
  },
  vulkanDrivers: () => vulkanDriverManifests(),
  async loadDawn() {
    const name: string = DAWN_PACKAGE;
    const dawn = (await import(name)) as DawnModule;
    // tfjs-backend-webgpu reads GPUBufferUsage, GPUMapMode… as globals, as in a browser.
    for (const [key, value] of Object.entries(dawn.globals)) {
      if (!(key in globalThis)) Object.defineProperty(globalThis, key, { value, configurable: true, writable: true });
    }
    return dawn.create([]);
  },
};
