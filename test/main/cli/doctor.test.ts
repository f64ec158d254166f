import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { SystemReport } from '../../../shared/system.js';
import { forkLauncher } from '../../../main/jobs/host/launcher.js';
import { classify } from '../../../main/system/probe/native-modules.js';
import { runProbe } from '../../../main/system/probe.js';
import { runCli } from '../../helpers/cli.js';
import { damageDatabaseFile, historyWithRuns, tempDirs } from '../../helpers/store.js';
import { swiftShaderEnv, WEBGPU_SKIP } from '../../helpers/webgpu.js';

const temp = tempDirs('adjoin-doctor-');
/** No Vulkan driver at all, whatever this machine has: a file the loader cannot find. */
const NO_VULKAN = { VK_ICD_FILENAMES: '/nonexistent/adjoin-test-icd.json', VK_DRIVER_FILES: '/nonexistent/adjoin-test-icd.json' };

function doctor(env: NodeJS.ProcessEnv, args: string[] = ['--json']): { status: number | null; report: SystemReport | null; stdout: string; stderr: string } {
  const r = runCli(['doctor', ...args], { env });
  return { ...r, report: args.includes('--json') && r.stdout.trim() !== '' ? (JSON.parse(r.stdout) as SystemReport) : null };
}

describe('adjoin doctor', () => {
  it('reports the runtime, every backend with its reason, native modules, free space and the history; exits 0', () => {
    const home = temp();
    const db = join(home, 'adjoin.db');
    historyWithRuns(db, 2);
    const r = doctor({ ADJOIN_BACKEND: '', ADJOIN_HOME: home, ...NO_VULKAN }, ['--json', '--db', db]);
    expect(r.status, r.stderr).toBe(0);
    const report = r.report!;
    expect(report).toMatchObject({ node: process.versions.node, abi: process.versions.modules, platform: process.platform, ok: true });
    expect(report.requested).toEqual({ value: null, kind: null, problem: null });
    expect(report.backends.map((b) => b.kind)).toEqual(['gpu', 'webgpu', 'node', 'wasm', 'cpu']);
    const webgpu = report.backends.find((b) => b.kind === 'webgpu')!;
    expect(webgpu).toMatchObject({ available: false, detail: expect.stringMatching(/^no Vulkan driver/) });
    expect(report.backends.find((b) => b.kind === 'wasm')).toMatchObject({ available: true, detail: expect.stringMatching(/WebAssembly/) });
    // The first available backend is the one a run would use (tfjs-node where installed, else wasm).
    expect(report.chosen).toBe(report.backends.find((b) => b.available)!.kind);
    expect(report.adapters).toEqual([]);
    expect(report.vulkanDrivers).toEqual([]);
    for (const name of ['better-sqlite3', 'sharp', 'onnxruntime-node'])
      expect(report.nativeModules.find((m) => m.name === name)).toMatchObject({ status: 'ok' });
    expect(report.folders.map((f) => [f.what, f.exists])).toEqual([
      ['data', true],
      ['cache', false],
    ]);
    for (const f of report.folders) expect(f.freeBytes).toBeGreaterThan(0);
    expect(report.history).toEqual({ path: db, exists: true, integrity: ['ok'], error: null });
  });

  it('for people: the backend a run would use is marked, each other with its reason', () => {
    const home = temp();
    const r = doctor({ ADJOIN_BACKEND: 'wasm', ADJOIN_HOME: home, ...NO_VULKAN }, []);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^ADJOIN_BACKEND=wasm$/m);
    expect(r.stdout).toMatch(/^ {2}→ WebAssembly +CPU \(WebAssembly/m);
    expect(r.stdout).toMatch(/^ {2}✗ WebGPU \(Dawn\) +no Vulkan driver/m);
    expect(r.stdout).toMatch(/^history {2}.*adjoin\.db: no history yet$/m);
  });

  it('exits 1, naming why, when ADJOIN_BACKEND asks for a backend that cannot run (or is no backend)', () => {
    const home = temp();
    const r = doctor({ ADJOIN_BACKEND: 'webgpu', ADJOIN_HOME: home, ...NO_VULKAN });
    expect(r.status).toBe(1);
    expect(r.report!.ok).toBe(false);
    expect(r.report!.chosen).toBeNull();
    expect(r.report!.requested.problem).toMatch(/^ADJOIN_BACKEND=webgpu asks for webgpu, which cannot run here: no Vulkan driver/);
    const bad = doctor({ ADJOIN_BACKEND: 'tpu', ADJOIN_HOME: home, ...NO_VULKAN }, []);
    expect(bad.status).toBe(1);
    expect(bad.stdout).toContain("PROBLEM: ADJOIN_BACKEND='tpu' is not a backend (use gpu, webgpu, node, wasm, cpu)");
  });

  it('reports a damaged history with what integrity_check found', () => {
    const home = temp();
    const db = join(home, 'adjoin.db');
    historyWithRuns(db, 200);
    damageDatabaseFile(db);
    const r = doctor({ ADJOIN_HOME: home, ...NO_VULKAN }, ['--json', '--db', db]);
    // A damaged history is reported, not a reason to fail: the backend asked for can still run.
    expect(r.status).toBe(0);
    expect(r.report!.history.integrity!.join(' ')).not.toBe('ok');
    expect(doctor({ ADJOIN_HOME: home, ...NO_VULKAN }, ['--db', db]).stdout).toMatch(/adjoin\.db: DAMAGED: .*\(see adjoin db check\)/);
  });

  it.skipIf(WEBGPU_SKIP !== null)('sees the SwiftShader adapter: software, never chosen on its own, usable when forced', () => {
    const home = temp();
    const auto = doctor({ ADJOIN_BACKEND: '', ADJOIN_HOME: home, ...swiftShaderEnv() }).report!;
    expect(auto.backends.find((b) => b.kind === 'webgpu')).toMatchObject({
      available: false,
      detail: expect.stringMatching(/^only a software adapter, SwiftShader/),
    });
    expect(auto.adapters).toEqual([
      {
        name: expect.stringMatching(/^SwiftShader/),
        vendor: 'google',
        architecture: 'swiftshader',
        software: true,
        requestedAs: ['high-performance', 'low-power', 'fallback'],
      },
    ]);
    expect(auto.vulkanDrivers).toEqual([swiftShaderEnv()['VK_ICD_FILENAMES']]);
    const forced = doctor({ ADJOIN_BACKEND: 'webgpu', ADJOIN_HOME: home, ...swiftShaderEnv() });
    expect(forced.status).toBe(0);
    expect(forced.report!.chosen).toBe('webgpu');
    expect(forced.report!.backends.find((b) => b.kind === 'webgpu')).toMatchObject({
      available: true,
      detail: expect.stringMatching(/software WebGPU adapter/),
    });
  });
});

describe('the probe process', () => {
  /** A stand-in probe: it starts checking a backend, then dies as a native abort would, or never answers. */
  const fakeProbe = (body: string): string => {
    const file = join(temp(), 'probe.mjs');
    writeFileSync(file, body);
    return file;
  };

  it('a probe that aborts while loading a backend: that backend is reported with the signal, the rest as not checked', async () => {
    const entry = fakeProbe(`
      process.send({ type: 'runtime', node: '20', electron: null, abi: '115' });
      process.send({ type: 'backend', status: { kind: 'gpu', available: false, detail: 'not installed' } });
      process.send({ type: 'checking', kind: 'webgpu' }, () => process.kill(process.pid, 'SIGABRT'));
    `);
    const result = await runProbe(forkLauncher, { ...process.env, ADJOIN_BACKEND: 'webgpu' }, { entry });
    expect(result.backends).toEqual([
      { kind: 'gpu', available: false, detail: 'not installed' },
      { kind: 'webgpu', available: false, detail: 'checking it ended the probe process (signal SIGABRT)' },
      ...['node', 'wasm', 'cpu'].map((kind) => ({ kind, available: false, detail: 'not checked: the probe process ended (signal SIGABRT)' })),
    ]);
    expect(result.requested.problem).toBe('the probe process ended (signal SIGABRT)');
  });

  it('a probe that hangs is ended at its limit and said so; malformed messages are ignored', async () => {
    const entry = fakeProbe(`
      process.send({ type: 'backend', status: { kind: 'gpu', available: 'yes' } });
      process.send('not an object');
      setInterval(() => undefined, 1000);
    `);
    const result = await runProbe(forkLauncher, process.env, { entry, limitMs: 500 });
    expect(result.backends[0]).toEqual({ kind: 'gpu', available: false, detail: 'not checked: the probe process ended (no answer within 0.5 s)' });
  });
});

describe('native modules against the runtime', () => {
  it('names both ABIs when a module was built for another runtime', () => {
    const error = new Error(
      "The module '/app/node_modules/better-sqlite3/build/Release/better_sqlite3.node'\nwas compiled against a different Node.js version using\nNODE_MODULE_VERSION 115. This version of Node.js requires\nNODE_MODULE_VERSION 139. Please try re-compiling or re-installing",
    );
    expect(classify('better-sqlite3', false, error)).toEqual({
      name: 'better-sqlite3',
      status: 'mismatch',
      detail:
        'built for ABI 115, this runtime is ABI 139: rebuild it for this runtime (npm rebuild better-sqlite3; for the desktop app, electron-builder install-app-deps)',
    });
    const missing = Object.assign(new Error("Cannot find package 'webgpu' imported from /app/x.js"), { code: 'ERR_MODULE_NOT_FOUND' });
    expect(classify('webgpu', true, missing)).toEqual({ name: 'webgpu', status: 'missing', detail: 'not installed (an optional dependency)' });
    expect(classify('sharp', false, new Error('libvips-cpp.so.42: cannot open shared object file\nmore'))).toEqual({
      name: 'sharp',
      status: 'error',
      detail: 'libvips-cpp.so.42: cannot open shared object file',
    });
  });
});
