import { describe, expect, it } from 'vitest';
import { skipLines } from '../../shared/backend.js';
import type { SystemReport } from '../../shared/system.js';
import { backendFromKind } from '../../renderer/src/lib/run-labels.js';
import { backendState, freeSpace, historyState, moduleState, systemHint } from '../../renderer/src/lib/system-view.js';

const report: SystemReport = {
  adjoin: '0.1.0',
  node: '20.20.2',
  electron: null,
  platform: 'linux',
  arch: 'x64',
  abi: '115',
  requested: { value: null, kind: null, problem: null },
  chosen: 'wasm',
  backends: [
    { kind: 'gpu', available: false, detail: 'libcudart.so.11.0 not found' },
    { kind: 'webgpu', available: false, detail: 'no Vulkan driver' },
    { kind: 'node', available: false, detail: 'not installed' },
    { kind: 'wasm', available: true, detail: 'CPU (WebAssembly SIMD)' },
    { kind: 'cpu', available: true, detail: 'CPU (plain JavaScript kernels)' },
  ],
  adapters: [],
  vulkanDrivers: [],
  nativeModules: [],
  folders: [],
  history: { path: '/h/adjoin.db', exists: true, integrity: ['ok'], error: null },
  ok: true,
};

describe('the System view’s wording', () => {
  it('marks the backend runs use, the others available or not', () => {
    expect(backendState(report, 'wasm', true)).toBe('used by runs');
    expect(backendState(report, 'cpu', true)).toBe('available');
    expect(backendState(report, 'gpu', false)).toBe('not available');
    expect(systemHint(report, false)).toBe('runs use WebAssembly');
    expect(systemHint(null, true)).toBe('checking…');
    expect(systemHint({ ...report, chosen: null }, false)).toBe('no backend can run');
  });

  it('says what is wrong with a module, a folder, the history', () => {
    expect(moduleState({ name: 'better-sqlite3', status: 'mismatch', detail: '' })).toBe('built for another runtime');
    expect(freeSpace({ what: 'data', path: '/d', exists: true, freeBytes: 12.34e9, error: null })).toBe('12.3 GB free');
    expect(freeSpace({ what: 'cache', path: '/c', exists: false, freeBytes: 250e6, error: null })).toBe('250 MB free');
    expect(historyState(report.history)).toEqual({ text: 'integrity check passed', sound: true });
    expect(historyState({ ...report.history, integrity: ['*** in database main ***', 'Page 7: btreeInitPage() returns error code 11'] })).toEqual({
      text: 'damaged: *** in database main ***; Page 7: btreeInitPage() returns error code 11',
      sound: false,
    });
    expect(historyState({ ...report.history, exists: false, integrity: null })).toEqual({ text: 'no history yet', sound: true });
  });
});

describe('the backend badge and its notes', () => {
  it('a WebGPU run stored without its report says GPU only when its device is not a software adapter', () => {
    expect(backendFromKind('webgpu', 'NVIDIA GeForce RTX 4070 (lovelace) — WebGPU via Dawn')?.label).toBe('GPU');
    expect(backendFromKind('webgpu', 'SwiftShader driver 5.0.0 (google): a software WebGPU adapter computing on the CPU (Dawn; forced)')?.label).toBe('CPU');
    expect(backendFromKind('webgpu', null)?.label).toBe('CPU');
  });

  it('lists each backend passed over with its reason; those left untried because another was forced share a line', () => {
    expect(
      skipLines({
        skipped: [
          { kind: 'gpu', reason: 'libcudart.so.11.0 not found' },
          { kind: 'webgpu', reason: 'no Vulkan driver' },
        ],
      }),
    ).toEqual(['tfjs-node-gpu (CUDA): libcudart.so.11.0 not found', 'WebGPU (Dawn): no Vulkan driver']);
    expect(
      skipLines({
        skipped: [
          { kind: 'gpu', reason: 'not tried: ADJOIN_BACKEND=node forces node' },
          { kind: 'webgpu', reason: 'not tried: ADJOIN_BACKEND=node forces node' },
        ],
      }),
    ).toEqual(['not tried (ADJOIN_BACKEND=node forces node): tfjs-node-gpu (CUDA), WebGPU (Dawn)']);
  });
});
