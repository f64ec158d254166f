import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { BackendInfo, BackendKind } from '../../../shared/backend.js';
import { detectorsFor, NativeState, type Detection } from '../../../main/engine/backends/detect.js';
import type { AdapterInfoLike, AdapterLike, BackendLoaders, GpuLike, NativePackage } from '../../../main/engine/backends/loaders.js';
import { parseForced, selectBackend } from '../../../main/engine/backends/select.js';
import { findSwiftShaderManifest, vulkanDriverManifests } from '../../../main/engine/backends/vulkan.js';

/**
 * Backend detection with the machine replaced by fakes: the native
 * TensorFlow packages, the dynamic loader, the Vulkan drivers and Dawn.
 */

const RTX: AdapterInfoLike = { vendor: 'nvidia', architecture: 'lovelace', device: '', description: 'NVIDIA GeForce RTX 4070', isFallbackAdapter: false };
const SWIFTSHADER: AdapterInfoLike = {
  vendor: 'google',
  architecture: 'swiftshader',
  device: 'swiftshader-device-subzero-',
  description: 'SwiftShader driver 5.0.0',
  isFallbackAdapter: true,
};

interface Machine {
  platform?: NodeJS.Platform;
  packages?: string[];
  /** What loading each native package gives: a GPU used or not, or a load error. */
  native?: Partial<Record<NativePackage, boolean | Error>>;
  missingLibraries?: string[];
  vulkanDrivers?: string[];
  dawn?: AdapterInfoLike | null | Error;
}

function fakeLoaders(m: Machine): BackendLoaders & { nativeLoads: NativePackage[]; dawnLoads: number } {
  const packages = new Set(m.packages ?? []);
  const loaders = {
    platform: m.platform ?? 'linux',
    nativeLoads: [] as NativePackage[],
    dawnLoads: 0,
    installed: (pkg: string) => packages.has(pkg),
    async loadNative(pkg: NativePackage) {
      loaders.nativeLoads.push(pkg);
      const r = m.native?.[pkg];
      if (r instanceof Error) throw r;
      return { isUsingGpuDevice: r === true };
    },
    openLibrary: (name: string) => ((m.missingLibraries ?? []).includes(name) ? `${name}: cannot open shared object file: No such file or directory` : null),
    vulkanDrivers: () => m.vulkanDrivers ?? ['/usr/share/vulkan/icd.d/nvidia_icd.json'],
    async loadDawn(): Promise<GpuLike> {
      loaders.dawnLoads += 1;
      if (m.dawn instanceof Error) throw m.dawn;
      const info = m.dawn ?? null;
      const adapter: AdapterLike | null = info === null ? null : { info, features: new Set(), limits: {}, requestDevice: async () => ({}) };
      return { requestAdapter: async () => adapter };
    },
  };
  return loaders;
}

const GPU_PKG = '@tensorflow/tfjs-node-gpu';
const CPU_PKG = '@tensorflow/tfjs-node';

/** Picks as the engine does, with activation that always succeeds (or fails for the kinds in `failing`). */
async function choose(m: Machine, forced: BackendKind | null = null, failing: BackendKind[] = []): Promise<BackendInfo> {
  const loaders = fakeLoaders(m);
  const detectors = detectorsFor(loaders, new NativeState(), {
    allowSoftware: forced === 'webgpu',
    wasm: async () => ({ kind: 'wasm', name: 'wasm', label: 'WASM', device: 'CPU (WebAssembly SIMD)' }),
    cpu: () => ({ kind: 'cpu', name: 'cpu', label: 'CPU', device: 'CPU (JavaScript)' }),
  });
  return selectBackend(forced, detectors, async (kind: BackendKind, _d: Detection) => (failing.includes(kind) ? `${kind} exploded` : null));
}

const reason = (info: BackendInfo, kind: BackendKind): string | undefined => info.skipped.find((s) => s.kind === kind)?.reason;

describe('backend detection (fake machines)', () => {
  it('a CUDA GPU that tfjs-node-gpu really uses: GPU, nothing passed over', async () => {
    const info = await choose({ packages: [GPU_PKG, 'webgpu'], native: { [GPU_PKG]: true } });
    expect(info.kind).toBe('gpu');
    expect(info.label).toBe('GPU');
    expect(info.skipped).toEqual([]);
  });

  it('CUDA libraries missing: tfjs-node-gpu loads but computes on the CPU, so it is passed over with the libraries named', async () => {
    const info = await choose({
      packages: [GPU_PKG, 'webgpu'],
      native: { [GPU_PKG]: false },
      missingLibraries: ['libcudart.so.11.0', 'libcudnn.so.8'],
      dawn: RTX,
    });
    expect(reason(info, 'gpu')).toBe(
      'libcudart.so.11.0, libcudnn.so.8 not found — libtensorflow 2.9 needs CUDA 11.2 and cuDNN 8.1 exactly; without them it computes on the CPU',
    );
    // The next best: WebGPU on the hardware adapter, which really is a GPU.
    expect(info.kind).toBe('webgpu');
    expect(info.label).toBe('GPU');
    expect(info.device).toBe('NVIDIA GeForce RTX 4070 (lovelace) — WebGPU via Dawn');
  });

  it('CUDA libraries present but no GPU found: said so; native CPU then runs on tfjs-node-gpu’s own libtensorflow', async () => {
    const loaders = fakeLoaders({ packages: [GPU_PKG, CPU_PKG], native: { [GPU_PKG]: false, [CPU_PKG]: false }, vulkanDrivers: [] });
    const detectors = detectorsFor(loaders, new NativeState(), {
      allowSoftware: false,
      wasm: async () => ({ kind: 'wasm', name: 'wasm', label: 'WASM', device: '' }),
      cpu: () => ({ kind: 'cpu', name: 'cpu', label: 'CPU', device: '' }),
    });
    const info = await selectBackend(null, detectors, async () => null);
    expect(reason(info, 'gpu')).toMatch(/^loaded, but libtensorflow found no CUDA GPU it can use/);
    expect(info.kind).toBe('node');
    expect(info.label).toBe('CPU');
    expect(info.device).toBe('CPU (native libtensorflow of tfjs-node-gpu, which found no GPU)');
    // Two libtensorflows never meet in one process.
    expect(loaders.nativeLoads).toEqual([GPU_PKG]);
  });

  it('only a software adapter (SwiftShader): never chosen on its own — wasm is — with the reason recorded', async () => {
    const info = await choose({ packages: ['webgpu'], dawn: SWIFTSHADER });
    expect(info.kind).toBe('wasm');
    expect(reason(info, 'gpu')).toMatch(/^not installed/);
    expect(reason(info, 'webgpu')).toBe(
      'only a software adapter, SwiftShader driver 5.0.0 (google): it computes on the CPU, slower than WebAssembly, so it is never chosen on its own (ADJOIN_BACKEND=webgpu forces it)',
    );
    expect(reason(info, 'node')).toMatch(/^not installed \(the optional dependency @tensorflow\/tfjs-node/);
  });

  it('forced onto the software adapter: it runs, labelled CPU and called a software adapter, never GPU', async () => {
    const info = await choose({ packages: ['webgpu'], dawn: SWIFTSHADER }, 'webgpu');
    expect(info.kind).toBe('webgpu');
    expect(info.label).toBe('CPU');
    expect(info.device).toMatch(/^SwiftShader driver 5\.0\.0 \(google\): a software WebGPU adapter computing on the CPU/);
    expect(info.skipped).toEqual([{ kind: 'gpu', reason: 'not tried: ADJOIN_BACKEND=webgpu forces webgpu' }]);
  });

  it.each<[string, Machine, RegExp]>([
    ['no webgpu package', {}, /^not installed \(the optional dependency webgpu, which ships Dawn\)/],
    ['no Vulkan loader', { packages: ['webgpu'], missingLibraries: ['libvulkan.so.1'] }, /^no Vulkan loader \(libvulkan\.so\.1\)/],
    ['no Vulkan driver', { packages: ['webgpu'], vulkanDrivers: [] }, /^no Vulkan driver: the Vulkan loader found no driver manifest/],
    [
      'Dawn fails to load',
      { packages: ['webgpu'], dawn: new Error('dawn.node: invalid ELF header\nstack') },
      /^Dawn could not be loaded: dawn\.node: invalid ELF header$/,
    ],
    [
      'no adapter (a driver Dawn refuses)',
      { packages: ['webgpu'], dawn: null, vulkanDrivers: ['/x/lvp_icd.x86_64.json'] },
      /^Dawn found no adapter it can use \(Vulkan drivers present: lvp_icd\.x86_64\.json\)$/,
    ],
  ])('webgpu passed over with the reason: %s', async (_, machine, expected) => {
    const info = await choose(machine);
    expect(info.kind).toBe('wasm');
    expect(reason(info, 'webgpu')).toMatch(expected);
  });

  it('on macOS: no CUDA build, no Vulkan checks; WebGPU runs on the Metal adapter', async () => {
    const info = await choose({
      platform: 'darwin',
      packages: [GPU_PKG, 'webgpu'],
      missingLibraries: ['libvulkan.so.1'],
      vulkanDrivers: [],
      dawn: { ...RTX, vendor: 'apple', architecture: 'metal-3', description: 'Apple M2' },
    });
    expect(reason(info, 'gpu')).toBe('no CUDA build for darwin (tfjs-node-gpu runs on Linux and Windows)');
    expect(info.kind).toBe('webgpu');
    expect(info.label).toBe('GPU');
  });

  it('tfjs-node-gpu that fails to load (a broken install) is passed over with the loader’s first line', async () => {
    const info = await choose({
      packages: [GPU_PKG],
      native: { [GPU_PKG]: new Error('libtensorflow.so.2: cannot open shared object file\nRequire stack: …') },
    });
    expect(reason(info, 'gpu')).toBe('could not be loaded: libtensorflow.so.2: cannot open shared object file');
  });

  it('a backend that fails to start is recorded and the next one used', async () => {
    const info = await choose({ packages: ['webgpu'], dawn: RTX }, null, ['webgpu']);
    expect(info.kind).toBe('wasm');
    expect(reason(info, 'webgpu')).toBe('did not start: webgpu exploded');
  });

  it('a forced backend that cannot run fails with its reason, not a quiet fallback', async () => {
    await expect(choose({ packages: [GPU_PKG], native: { [GPU_PKG]: false }, missingLibraries: ['libcudart.so.11.0'] }, 'gpu')).rejects.toThrow(
      'the gpu backend asked for by ADJOIN_BACKEND cannot run here (gpu: libcudart.so.11.0 not found — libtensorflow 2.9 needs CUDA 11.2 and cuDNN 8.1 exactly; without them it computes on the CPU)',
    );
    await expect(choose({ packages: ['webgpu'], vulkanDrivers: [] }, 'webgpu')).rejects.toThrow(
      /^the webgpu backend asked for by ADJOIN_BACKEND cannot run here \(webgpu: no Vulkan driver/,
    );
  });

  it('ADJOIN_BACKEND takes the backends and their aliases, and names the choices for anything else', () => {
    expect(parseForced('WebGPU')).toBe('webgpu');
    expect(parseForced('cuda')).toBe('gpu');
    expect(parseForced('tfjs-node')).toBe('node');
    expect(parseForced('')).toBeNull();
    expect(() => parseForced('metal')).toThrow("ADJOIN_BACKEND='metal' is not a backend (use gpu, webgpu, node, wasm, cpu)");
  });
});

describe('Vulkan drivers and SwiftShader on disk', () => {
  const root = mkdtempSync(join(tmpdir(), 'adjoin-vulkan-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const file = (path: string, text = '{}'): string => {
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, text);
    return path;
  };

  it('reads the loader’s search path, and VK_ICD_FILENAMES / VK_DRIVER_FILES replace it', () => {
    const a = file(join(root, 'data', 'vulkan', 'icd.d', 'radeon_icd.x86_64.json'));
    const b = file(join(root, 'config', 'vulkan', 'icd.d', 'intel_icd.x86_64.json'));
    file(join(root, 'data', 'vulkan', 'icd.d', 'README.txt'));
    const env = { HOME: join(root, 'home'), XDG_DATA_DIRS: join(root, 'data'), XDG_CONFIG_DIRS: join(root, 'config') };
    expect(vulkanDriverManifests(env).filter((f) => f.startsWith(root))).toEqual([b, a]);
    const only = file(join(root, 'elsewhere', 'one.json'));
    expect(vulkanDriverManifests({ ...env, VK_ICD_FILENAMES: `${only}:${join(root, 'missing.json')}` })).toEqual([only]);
    expect(vulkanDriverManifests({ ...env, VK_DRIVER_FILES: only, VK_ICD_FILENAMES: a })).toEqual([only]);
  });

  it('finds SwiftShader next to a browser on PATH (a launcher script in bin/, the browser in lib/<name>/), or nowhere', () => {
    const bin = join(root, 'usr', 'bin');
    mkdirSync(bin, { recursive: true });
    file(join(bin, 'chromium'), '#!/bin/sh\nexec ../lib/chromium/chromium "$@"\n');
    chmodSync(join(bin, 'chromium'), 0o755);
    const env = { PATH: bin, HOME: join(root, 'home') };
    expect(findSwiftShaderManifest(env, [])).toBeNull();
    const manifest = file(join(root, 'usr', 'lib', 'chromium', 'vk_swiftshader_icd.json'));
    expect(findSwiftShaderManifest(env, [])).toBe(manifest);
    // Also one folder deep in an install root, without a browser on PATH.
    expect(findSwiftShaderManifest({ PATH: '', HOME: join(root, 'home') }, [join(root, 'usr', 'lib')])).toBe(manifest);
  });
});
