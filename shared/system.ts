import type { BackendKind } from './backend.js';

/**
 * What `adjoin doctor` and the app's System view report: the runtime, each
 * compute backend with why it can or cannot run, the GPU adapters found,
 * native modules against this runtime's ABI, free space, the history's
 * integrity. The same object in both places (`adjoin doctor --json`).
 */

/** One backend as a run would meet it now. */
export interface BackendStatus {
  kind: BackendKind;
  available: boolean;
  /** What it would run on when available, else why not. */
  detail: string;
}

/** A WebGPU adapter Dawn offers. */
export interface AdapterReport {
  /** "NVIDIA GeForce RTX 4070 (lovelace)" */
  name: string;
  vendor: string;
  architecture: string;
  /** A software adapter (SwiftShader): computes on the CPU; never chosen on its own. */
  software: boolean;
  /** How it was asked for: the high-performance or low-power GPU, or the fallback (software) adapter. */
  requestedAs: Array<'high-performance' | 'low-power' | 'fallback'>;
}

/** A native module loaded in the process the engine runs in. */
export interface NativeModuleReport {
  name: string;
  /** `ok`: loads; `mismatch`: built for another runtime (its ABI named); `missing`: not installed (optional); `error`: fails otherwise. */
  status: 'ok' | 'mismatch' | 'missing' | 'error';
  detail: string;
}

export interface FolderReport {
  what: 'data' | 'cache';
  path: string;
  /** Whether the folder exists yet (free space is then measured on the nearest existing parent). */
  exists: boolean;
  freeBytes: number | null;
  error: string | null;
}

export interface HistoryReport {
  path: string;
  exists: boolean;
  /** SQLite's integrity_check: ['ok'] when sound; null when there is no history yet or it could not be opened. */
  integrity: string[] | null;
  error: string | null;
}

export interface SystemReport {
  adjoin: string;
  node: string;
  /** The Electron version when the report comes from the desktop app, else null. */
  electron: string | null;
  platform: string;
  arch: string;
  /** NODE_MODULE_VERSION of the runtime the engine runs in: native modules must be built for it. */
  abi: string;
  /** ADJOIN_BACKEND as set (null when unset) and the backend it names. */
  requested: { value: string | null; kind: BackendKind | null; problem: string | null };
  /** The backend a run started now would use, or null when none could run. */
  chosen: BackendKind | null;
  backends: BackendStatus[];
  adapters: AdapterReport[];
  /** Vulkan driver manifests the Vulkan loader would read (Linux), else null. */
  vulkanDrivers: string[] | null;
  nativeModules: NativeModuleReport[];
  folders: FolderReport[];
  history: HistoryReport;
  /** False when what the user asked for cannot work (ADJOIN_BACKEND names a backend that cannot run): `adjoin doctor` then exits 1. */
  ok: boolean;
}
