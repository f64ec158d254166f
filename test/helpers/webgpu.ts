import { afterAll, beforeAll } from 'vitest';
import { initBackend, releaseBackends } from '../../main/engine/backend.js';
import { systemLoaders } from '../../main/engine/backends/system-loaders.js';
import { findSwiftShaderManifest } from '../../main/engine/backends/vulkan.js';

/**
 * The webgpu backend is tested on SwiftShader, the software Vulkan driver
 * Chromium ships: WebGPU then runs on the CPU, so every machine (CI has no
 * GPU) checks the same code a GPU runs. CI installs Chromium and libvulkan1
 * and sets ADJOIN_REQUIRE_SWIFTSHADER: there a missing driver fails the tests
 * instead of skipping them.
 */
export const SWIFTSHADER: string | null = findSwiftShaderManifest();

function skipReason(): string | null {
  if (SWIFTSHADER === null) return 'no SwiftShader Vulkan driver (vk_swiftshader_icd.json) was found; it ships with Chromium (apt-get install chromium)';
  if (process.platform === 'linux' && systemLoaders.openLibrary('libvulkan.so.1') !== null) {
    return 'the Vulkan loader libvulkan.so.1 is missing (apt-get install libvulkan1)';
  }
  return null;
}

/** Why the webgpu tests cannot run here, or null when they can. */
export const WEBGPU_SKIP = skipReason();
if (WEBGPU_SKIP !== null && process.env['ADJOIN_REQUIRE_SWIFTSHADER'] === '1') throw new Error(`webgpu tests cannot run: ${WEBGPU_SKIP}`);
if (WEBGPU_SKIP !== null) console.warn(`webgpu tests skipped: ${WEBGPU_SKIP}; CI installs both.`);

/** The environment that points the Vulkan loader at SwiftShader alone (for this process or a child). */
export function swiftShaderEnv(): Record<string, string> {
  if (SWIFTSHADER === null) throw new Error('no SwiftShader Vulkan driver');
  return { VK_ICD_FILENAMES: SWIFTSHADER, VK_DRIVER_FILES: SWIFTSHADER };
}

/** Starts the webgpu backend on SwiftShader for this test file, and releases the device after it. */
export function useWebgpuBackend(): void {
  beforeAll(async () => {
    if (WEBGPU_SKIP !== null) return;
    Object.assign(process.env, swiftShaderEnv());
    await initBackend('webgpu');
  });
  afterAll(() => releaseBackends());
}
