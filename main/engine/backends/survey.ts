import { BACKEND_ORDER, type BackendKind } from '../../../shared/backend.js';
import type { AdapterReport, BackendStatus } from '../../../shared/system.js';
import { adapterName, detectorsFor, isSoftwareAdapter, NativeState } from './detect.js';
import type { BackendInfo } from '../../../shared/backend.js';
import type { AdapterLike, BackendLoaders } from './loaders.js';
import { parseForced } from './select.js';

/**
 * Every backend's status, without starting any: what `adjoin doctor` and the
 * System view show. Backends are detected exactly as a run detects them (the
 * same code, in the same kind of process), so "available" means a run would
 * get it.
 */
export async function surveyBackends(
  forcedValue: string | undefined,
  loaders: BackendLoaders,
  describe: { wasm: () => Promise<Omit<BackendInfo, 'skipped'>>; cpu: () => Omit<BackendInfo, 'skipped'> },
  report: (status: BackendStatus) => void,
  checking: (kind: BackendKind) => void = () => undefined,
): Promise<{ requested: { value: string | null; kind: BackendKind | null; problem: string | null }; chosen: BackendKind | null }> {
  const value = forcedValue === undefined || forcedValue === '' ? null : forcedValue;
  let forced: BackendKind | null = null;
  let problem: string | null = null;
  try {
    forced = parseForced(forcedValue);
  } catch (e) {
    problem = (e as Error).message;
  }
  const detectors = detectorsFor(loaders, new NativeState(), { allowSoftware: forced === 'webgpu', ...describe });
  const available = new Set<BackendKind>();
  const reasons = new Map<BackendKind, string>();
  for (const kind of BACKEND_ORDER) {
    checking(kind);
    const d = await detectors[kind]();
    if (d.usable) available.add(kind);
    else reasons.set(kind, d.reason);
    report({ kind, available: d.usable, detail: d.usable ? d.info.device : d.reason });
  }
  if (forced !== null && !available.has(forced)) problem = `ADJOIN_BACKEND=${value} asks for ${forced}, which cannot run here: ${reasons.get(forced)}`;
  const chosen = problem !== null ? null : (forced ?? BACKEND_ORDER.find((k) => available.has(k)) ?? null);
  return { requested: { value, kind: forced, problem }, chosen };
}

/**
 * The WebGPU adapters Dawn offers: the high-performance and the low-power
 * GPU (often the same one) and the fallback (software) adapter. Empty where
 * Dawn cannot load or, on Linux, where Vulkan has no driver (Dawn would only
 * print warnings).
 */
export async function listAdapters(loaders: BackendLoaders): Promise<AdapterReport[]> {
  if (!loaders.installed('webgpu')) return [];
  if (loaders.platform === 'linux' && (loaders.openLibrary('libvulkan.so.1') !== null || loaders.vulkanDrivers().length === 0)) return [];
  let gpu;
  try {
    gpu = await loaders.loadDawn();
  } catch {
    return [];
  }
  const found = new Map<string, AdapterReport>();
  const asks = [
    ['high-performance', { powerPreference: 'high-performance' }],
    ['low-power', { powerPreference: 'low-power' }],
    ['fallback', { forceFallbackAdapter: true }],
  ] as const;
  for (const [as, options] of asks) {
    let adapter: AdapterLike | null = null;
    try {
      adapter = await gpu.requestAdapter(options);
    } catch {
      adapter = null;
    }
    if (adapter === null) continue;
    const { info } = adapter;
    const key = `${info.vendor}|${info.architecture}|${info.device}|${info.description}`;
    const known = found.get(key);
    if (known !== undefined) known.requestedAs.push(as);
    else
      found.set(key, { name: adapterName(info), vendor: info.vendor, architecture: info.architecture, software: isSoftwareAdapter(info), requestedAs: [as] });
  }
  return [...found.values()];
}
