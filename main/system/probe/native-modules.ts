import { createRequire } from 'node:module';
import type { NativeModuleReport } from '../../../shared/system.js';

const require = createRequire(import.meta.url);

interface Module {
  name: string;
  /** Optional dependencies may be absent (npm drops them where they cannot install). */
  optional: boolean;
  /** Loads the module far enough to open its native binary. */
  load(): Promise<unknown>;
}

const MODULES: readonly Module[] = [
  {
    name: 'better-sqlite3',
    optional: false,
    // The binary opens with the first database, not with the require.
    load: async () => {
      const Database = require('better-sqlite3') as new (file: string) => { close(): void };
      new Database(':memory:').close();
    },
  },
  { name: 'sharp', optional: false, load: async () => require('sharp') },
  { name: 'onnxruntime-node', optional: false, load: async () => require('onnxruntime-node') },
  // Dawn (dawn.node): a prebuilt binary inside the package.
  { name: 'webgpu', optional: true, load: async () => import('webgpu' as string) },
];

function firstLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0]!.trim();
}

/** Why a native module did not load, in terms of this runtime. */
export function classify(name: string, optional: boolean, e: unknown): NativeModuleReport {
  const message = e instanceof Error ? e.message : String(e);
  const abi = /NODE_MODULE_VERSION (\d+)[\s\S]*?NODE_MODULE_VERSION (\d+)/.exec(message);
  if (abi !== null) {
    return {
      name,
      status: 'mismatch',
      detail: `built for ABI ${abi[1]}, this runtime is ABI ${abi[2]}: rebuild it for this runtime (npm rebuild ${name}; for the desktop app, electron-builder install-app-deps)`,
    };
  }
  const code = (e as { code?: string }).code;
  if ((code === 'MODULE_NOT_FOUND' || code === 'ERR_MODULE_NOT_FOUND') && message.includes(`'${name}'`)) {
    return { name, status: optional ? 'missing' : 'error', detail: optional ? 'not installed (an optional dependency)' : `not installed: ${firstLine(e)}` };
  }
  return { name, status: 'error', detail: firstLine(e) };
}

/** Loads each native module in this process: does its binary match this runtime's ABI? */
export async function checkNativeModules(): Promise<NativeModuleReport[]> {
  const out: NativeModuleReport[] = [];
  for (const m of MODULES) {
    try {
      await m.load();
      out.push({ name: m.name, status: 'ok', detail: `built for this runtime (ABI ${process.versions.modules})` });
    } catch (e) {
      out.push(classify(m.name, m.optional, e));
    }
  }
  return out;
}
