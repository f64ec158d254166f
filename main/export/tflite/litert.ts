import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';
import type * as LiteRtJs from '@litertjs/core';

type LiteRtModule = typeof LiteRtJs;

const require = createRequire(import.meta.url);

/** The folder of LiteRT.js's WebAssembly builds. */
function wasmFolder(): string {
  return join(dirname(require.resolve('@litertjs/core/package.json')), 'wasm');
}

let loading: Promise<LiteRtModule> | null = null;
/** What LiteRT's WebAssembly printed (its errors explain a model it refuses). */
const log: string[] = [];

export function liteRtLog(): readonly string[] {
  return log;
}

function remember(line: string): void {
  log.push(line);
  if (log.length > 200) log.shift();
}

/**
 * LiteRT.js in plain Node. Its loader is written for browsers and workers:
 * it fetches the emscripten glue with `importScripts` (in a worker) and
 * then calls the `ModuleFactory` the glue defines on `self`. Node has
 * neither, so for the duration of the load `self` is the global object and
 * `importScripts` evaluates the glue as CommonJS with a real `require` —
 * emscripten's own Node support then reads the .wasm file from disk. Both
 * are removed again afterwards: TF.js's WebAssembly backend would take a
 * global `importScripts` for a sign that it runs in a worker.
 */
export function loadLiteRt(): Promise<LiteRtModule> {
  loading ??= (async () => {
    const lrt = await import('@litertjs/core');
    const g = globalThis as Record<string, unknown>;
    const saved = { self: g['self'], importScripts: g['importScripts'], Module: g['Module'] };
    g['self'] = globalThis;
    g['importScripts'] = (url: string): void => {
      const path = url.startsWith('file:') ? fileURLToPath(url) : url;
      const glue = vm.compileFunction(readFileSync(path, 'utf8'), ['require', 'module', 'exports', '__filename', '__dirname'], { filename: path });
      const module = { exports: {} as unknown };
      glue(createRequire(path), module, module.exports, path, dirname(path));
      g['ModuleFactory'] = module.exports;
    };
    // emscripten reads `print`/`printErr` from the module arguments: keep LiteRT's log for error messages, off the console.
    g['Module'] = { print: remember, printErr: remember };
    // There is no WebGPU device here; LiteRT warns on the console when it finds none, which says nothing to our users.
    const warn = console.warn;
    console.warn = (...args: unknown[]): void => {
      if (typeof args[0] === 'string' && args[0].startsWith('Failed to create default WebGPU device')) return;
      warn(...args);
    };
    try {
      await lrt.loadLiteRt(`${wasmFolder()}/`);
      return lrt;
    } catch (e) {
      loading = null;
      throw e;
    } finally {
      console.warn = warn;
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete g[k];
        else g[k] = v;
      }
    }
  })();
  return loading;
}

export const LITERT_RUNTIME = `LiteRT.js ${require('@litertjs/core/package.json').version as string} (WebAssembly, CPU)`;
