import * as tf from '@tensorflow/tfjs';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import type { AdapterLike, GpuLike } from './loaders.js';
import { onRelease } from './release.js';

type DeviceArg = ConstructorParameters<typeof WebGPUBackend>[0];
type InfoArg = ConstructorParameters<typeof WebGPUBackend>[1];

interface DeviceLike {
  destroy(): void;
  readonly lost: Promise<{ reason: string; message: string }>;
}

/**
 * Registers tfjs-backend-webgpu on the adapter detection chose and makes it
 * the active backend. The package's own registration picks an adapter by
 * itself (and only where a browser's navigator.gpu exists at import), so
 * Adjoin registers the backend on its own device instead: the adapter it
 * reports is the one that computes. Returns the reason it failed, or null.
 */
export async function activateWebgpu(gpu: GpuLike, adapter: AdapterLike): Promise<string | null> {
  // The limits tfjs-backend-webgpu asks for in a browser: the adapter's own maximums.
  const limits = [
    'maxComputeWorkgroupStorageSize',
    'maxComputeWorkgroupsPerDimension',
    'maxStorageBufferBindingSize',
    'maxBufferSize',
    'maxComputeWorkgroupSizeX',
    'maxComputeInvocationsPerWorkgroup',
  ];
  const requiredLimits: Record<string, number> = {};
  for (const name of limits) {
    const value = adapter.limits[name];
    if (typeof value === 'number') requiredLimits[name] = value;
  }
  let device: DeviceLike;
  try {
    device = (await adapter.requestDevice({
      requiredFeatures: adapter.features.has('timestamp-query') ? ['timestamp-query'] : [],
      requiredLimits,
    })) as DeviceLike;
  } catch (e) {
    return `the adapter refused a device: ${e instanceof Error ? e.message : String(e)}`;
  }
  // Imported before navigator.gpu exists, the package registers no backend of its own.
  const webgpu = await import('@tensorflow/tfjs-backend-webgpu');
  const original = Object.getOwnPropertyDescriptor(globalThis, 'navigator');
  const navigator = { ...(original?.value as object | undefined), gpu };
  Object.defineProperty(globalThis, 'navigator', { value: navigator, configurable: true, writable: true });
  let released = false;
  // A lost device (driver reset, GPU removed) fails the next read with Dawn's message; this says why.
  void device.lost.then((info) => {
    if (!released) process.emitWarning(`the WebGPU device was lost (${info.reason}): ${info.message}`);
  });
  onRelease(() => {
    released = true;
    if (tf.findBackendFactory('webgpu') !== null) tf.removeBackend('webgpu');
    device.destroy();
    if (original === undefined) Reflect.deleteProperty(globalThis, 'navigator');
    else Object.defineProperty(globalThis, 'navigator', original);
  });
  if (tf.findBackendFactory('webgpu') !== null) tf.removeBackend('webgpu');
  tf.registerBackend('webgpu', () => new webgpu.WebGPUBackend(device as unknown as DeviceArg, adapter.info as unknown as InfoArg));
  try {
    return (await tf.setBackend('webgpu')) ? null : 'tfjs-backend-webgpu did not initialise';
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}
