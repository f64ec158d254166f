import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../../helpers/cli.js';
import { swiftShaderEnv, WEBGPU_SKIP } from '../../helpers/webgpu.js';

/**
 * The CLI on the webgpu backend (SwiftShader): a run that trains, records its
 * backend and the reasons, exports, and whose process ends by itself once
 * done (Dawn would keep it alive if its device were not released).
 */
const home = mkdtempSync(join(tmpdir(), 'adjoin-webgpu-cli-'));
afterAll(() => rmSync(home, { recursive: true, force: true }));
const DATA = 'synthetic:classes=3,size=8,channels=1,train=16,val=8,seed=3';
const TRAIN = ['train', '--data', DATA, '--arch', 'resnet18', '--width', '0.125', '--alpha', '2', '--epochs', '1', '--batch', '8'];

describe.skipIf(WEBGPU_SKIP !== null)('adjoin on the webgpu backend (SwiftShader)', () => {
  it('trains, says at start what it runs on and what it passed over, records it for adjoin show, exports, and exits', () => {
    const env = { ADJOIN_HOME: home, ADJOIN_BACKEND: 'webgpu', ...swiftShaderEnv() };
    // spawnSync returns only when the process has ended: a process Dawn kept alive would time out here.
    const r = runCli(TRAIN, { env, timeout: 600_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^backend: CPU — SwiftShader driver [\d.]+ \(google\): a software WebGPU adapter computing on the CPU/m);
    expect(r.stderr).toMatch(/^ {2}not used: not tried \(ADJOIN_BACKEND=webgpu forces webgpu\): tfjs-node-gpu \(CUDA\)$/m);
    const runId = Number(/run (\d+): recording in/.exec(r.stderr)![1]);

    const show = runCli(['show', String(runId)], { env });
    expect(show.status).toBe(0);
    expect(show.stdout).toMatch(/^ {2}backend {4}webgpu \(CPU\) — SwiftShader driver/m);
    expect(show.stdout).toMatch(/^ {13}not used: not tried \(ADJOIN_BACKEND=webgpu forces webgpu\): tfjs-node-gpu \(CUDA\)$/m);
    const details = JSON.parse(runCli(['show', String(runId), '--json'], { env }).stdout) as { run: { backend: string; backendInfo: { label: string } } };
    expect(details.run).toMatchObject({ backend: 'webgpu', backendInfo: { label: 'CPU' } });

    const out = join(home, 'phone-model');
    const exported = runCli(['export', String(runId), '--format', 'onnx', '--out', out], { env, timeout: 600_000 });
    expect(exported.status, exported.stderr).toBe(0);
    expect(readdirSync(out).sort()).toEqual(['labels.txt', 'metadata.json', 'model.onnx']);
  });

  it('left to choose, it passes the software adapter over for WebAssembly and records why', () => {
    const env = { ADJOIN_HOME: home, ADJOIN_BACKEND: '', ADJOIN_TRAIN_WORKERS: '1', ...swiftShaderEnv() };
    const r = runCli([...TRAIN, '--json'], { env, timeout: 600_000 });
    expect(r.status, r.stderr).toBe(0);
    const started = JSON.parse(r.stdout.split('\n')[0]!) as { type: string; backend: { kind: string; skipped: Array<{ kind: string; reason: string }> } };
    expect(started.type).toBe('started');
    expect(['node', 'wasm']).toContain(started.backend.kind);
    expect(started.backend.skipped.find((s) => s.kind === 'webgpu')?.reason).toMatch(/^only a software adapter, SwiftShader driver/);
  });
});
