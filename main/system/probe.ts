import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { BACKEND_ORDER, type BackendKind } from '../../shared/backend.js';
import type { AdapterReport, BackendStatus, NativeModuleReport, SystemReport } from '../../shared/system.js';
import type { Launcher } from '../jobs/host/launcher.js';
import { probeMessage } from './probe-protocol.js';

/** Everything the probe process found (with the reason for anything it could not check). */
export interface ProbeResult {
  runtime: { node: string; electron: string | null; abi: string } | null;
  modules: NativeModuleReport[];
  backends: BackendStatus[];
  requested: SystemReport['requested'];
  chosen: BackendKind | null;
  adapters: AdapterReport[];
  vulkanDrivers: string[] | null;
}

/** A probe that hangs (a driver that never answers) is ended after this long and reported. */
const PROBE_LIMIT_MS = 120_000;

/** The compiled probe module: next to this file when compiled, under build/ when run from sources (tests). */
export function probeEntry(): string {
  const here = fileURLToPath(import.meta.url);
  const entry = here.endsWith('.ts')
    ? fileURLToPath(new URL('../../build/main/system/probe/probe-process.js', import.meta.url))
    : fileURLToPath(new URL('./probe/probe-process.js', import.meta.url));
  if (!existsSync(entry)) throw new Error(`the probe module is missing (${entry}); run npm run build`);
  return entry;
}

/**
 * Runs the probe in its own process, as a job would run (the same launcher,
 * the same environment), and collects its findings. If it dies or hangs,
 * what it was checking is reported with how it ended.
 */
export function runProbe(launcher: Launcher, env: NodeJS.ProcessEnv, options: { entry?: string; limitMs?: number } = {}): Promise<ProbeResult> {
  const limitMs = options.limitMs ?? PROBE_LIMIT_MS;
  const result: ProbeResult = {
    runtime: null,
    modules: [],
    backends: [],
    requested: { value: null, kind: null, problem: null },
    chosen: null,
    adapters: [],
    vulkanDrivers: null,
  };
  const value = env['ADJOIN_BACKEND'];
  result.requested.value = value === undefined || value === '' ? null : value;
  return new Promise((resolve) => {
    const child = launcher(options.entry ?? probeEntry(), env);
    let checking: BackendKind | null = null;
    let done = false;
    const finish = (ending: string | null): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (ending !== null) {
        // What was being checked when the probe ended, and everything after it.
        for (const kind of BACKEND_ORDER) {
          if (result.backends.some((b) => b.kind === kind)) continue;
          const detail = kind === checking ? `checking it ended the probe process (${ending})` : `not checked: the probe process ended (${ending})`;
          result.backends.push({ kind, available: false, detail });
        }
        if (result.requested.kind !== null || result.requested.value !== null) result.requested.problem ??= `the probe process ended (${ending})`;
      }
      resolve(result);
    };
    const timer = setTimeout(() => {
      child.kill();
      finish(`no answer within ${limitMs / 1000} s`);
    }, limitMs);
    child.onMessage((raw) => {
      let m;
      try {
        m = probeMessage(raw, 'probe message');
      } catch {
        return;
      }
      switch (m.type) {
        case 'runtime':
          result.runtime = { node: m.node, electron: m.electron, abi: m.abi };
          break;
        case 'modules':
          result.modules = m.modules;
          break;
        case 'checking':
          checking = m.kind;
          break;
        case 'backend':
          result.backends.push(m.status);
          break;
        case 'requested':
          result.requested = m.requested;
          result.chosen = m.chosen;
          break;
        case 'adapters':
          result.adapters = m.adapters;
          result.vulkanDrivers = m.vulkanDrivers;
          break;
        case 'done':
          finish(null);
          break;
      }
    });
    // Messages sent just before the exit may still be on their way: read them first.
    child.onExit((code, signal) => setImmediate(() => finish(signal !== null ? `signal ${signal}` : `exit code ${code}`)));
  });
}
