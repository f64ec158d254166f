import { tinyConfig } from '../../helpers/configs.js';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { ApiResult } from '../../../shared/api.js';
import type { SystemReport } from '../../../shared/system.js';
import type { TrainConfig } from '../../../shared/train-config.js';
import { startServices, type Services } from '../../../main/api/services.js';
import { sampleDatasetPath } from '../../../main/package-root.js';
import { startServer, TOKEN_HEADER, type RunningServer } from '../../../main/server/server.js';
import { httpRequest } from '../../helpers/raw-http.js';

const root = mkdtempSync(join(tmpdir(), 'adjoin-server-'));
const renderer = join(root, 'renderer');
let services: Services;
let server: RunningServer;

beforeAll(async () => {
  mkdirSync(renderer);
  writeFileSync(join(renderer, 'index.html'), '<!doctype html><title>Adjoin</title>');
  writeFileSync(join(root, 'secret.txt'), 'not for the browser');
  services = startServices({
    database: join(root, 'home', 'adjoin.db'),
    shell: 'browser',
    native: null,
    env: { ...process.env, ADJOIN_BACKEND: 'wasm', ADJOIN_TEST_HOOKS: '1', ADJOIN_TEST_ABORT_AT_STEP: '2' },
  });
  server = await startServer({ handlers: services.handlers, subscribe: (l) => services.manager.subscribe(l), rendererDir: renderer });
});

afterAll(async () => {
  await server.close();
  await services.close();
  rmSync(root, { recursive: true, force: true });
});

function get(path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: server.port, path, headers }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Trades the link's one-time token for a session, as the page does. */
async function newSession(): Promise<string> {
  const r = await httpRequest(server.port, '/session', {
    method: 'POST',
    headers: { Origin: `http://127.0.0.1:${server.port}`, [TOKEN_HEADER]: server.token },
  });
  return (JSON.parse(r.body) as { session: string }).session;
}

function connect(session: string, origin = `http://127.0.0.1:${server.port}`): WebSocket {
  return new WebSocket(`ws://127.0.0.1:${server.port}/api?session=${session}`, { origin });
}

/** One client with request ids, as the renderer's WebSocket transport works. */
async function client(): Promise<{
  call: (name: string, req?: unknown) => Promise<ApiResult<unknown>>;
  events: Array<{ event: string; payload: unknown }>;
  close: () => void;
}> {
  const ws = connect(await newSession());
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  let next = 1;
  const pending = new Map<number, (r: ApiResult<unknown>) => void>();
  const events: Array<{ event: string; payload: unknown }> = [];
  ws.on('message', (raw) => {
    const m = JSON.parse(String(raw)) as { id?: number; result?: ApiResult<unknown>; event?: string; payload?: unknown };
    if (m.id !== undefined) pending.get(m.id)?.(m.result!);
    else events.push({ event: m.event!, payload: m.payload });
  });
  return {
    call: (name, req = {}) =>
      new Promise((resolve) => {
        const id = next++;
        pending.set(id, resolve);
        ws.send(JSON.stringify({ id, call: name, req }));
      }),
    events,
    close: () => ws.close(),
  };
}

describe('the browser shell', () => {
  it('serves the renderer with a strict Content-Security-Policy', async () => {
    const r = await get('/');
    expect(r.status).toBe(200);
    expect(r.headers['content-security-policy']).toMatch(/script-src 'self'; style-src 'self'/);
    expect(r.headers['x-content-type-options']).toBe('nosniff');
  });

  it('never serves files outside the renderer', async () => {
    for (const path of ['/../secret.txt', '/%2e%2e/secret.txt', '/..%2fsecret.txt']) {
      const r = await get(path);
      expect(r.status).not.toBe(200);
      expect(r.body).not.toContain('not for the browser');
    }
  });

  it('refuses requests for another host name (DNS rebinding)', async () => {
    expect((await get('/', { Host: `attacker.example:${server.port}` })).status).toBe(421);
  });

  it('refuses a WebSocket without a session, before the upgrade', async () => {
    const ws = connect('wrong-session');
    const error = await new Promise<Error>((resolve) => ws.once('error', resolve));
    expect(error.message).toMatch(/401/);
  });

  it('refuses a WebSocket from a foreign Origin, even with a session', async () => {
    const ws = connect(await newSession(), 'http://evil.example');
    const error = await new Promise<Error>((resolve) => ws.once('error', resolve));
    expect(error.message).toMatch(/403/);
  });

  it('answers calls, validates requests, and reports errors as data', async () => {
    const c = await client();
    const info = await c.call('app:info');
    expect(info).toMatchObject({ ok: true, value: { shell: 'browser', nativeDialogs: false } });
    expect(await c.call('runs:show', { runId: 'seven' })).toMatchObject({ ok: false, error: { code: 'bad-request' } });
    expect(await c.call('no:such-call')).toMatchObject({ ok: false, error: { code: 'unknown-call' } });
    expect(await c.call('runs:show', { runId: 404 })).toMatchObject({
      ok: false,
      error: { name: 'InputError', message: expect.stringMatching(/there is no run 404/) },
    });
    expect(await c.call('dialog:choose-folder', { title: 'x' })).toMatchObject({ ok: false, error: { message: expect.stringMatching(/desktop app/) } });
    expect(await c.call('dataset:scan', { path: 'relative/folder' })).toMatchObject({ ok: false, error: { field: 'path' } });
    c.close();
  });

  it('reports the system for the System view: each backend with its reason, probed in a process of its own', async () => {
    const c = await client();
    const r = (await c.call('system:report', {})) as ApiResult<SystemReport>;
    expect(r.ok).toBe(true);
    const report = (r as { value: SystemReport }).value;
    expect(report.backends.map((b) => b.kind)).toEqual(['gpu', 'webgpu', 'node', 'wasm', 'cpu']);
    expect(report).toMatchObject({ requested: { value: 'wasm', kind: 'wasm', problem: null }, chosen: 'wasm', ok: true, electron: null });
    expect(report.history).toMatchObject({ path: join(root, 'home', 'adjoin.db'), exists: true, integrity: ['ok'] });
    c.close();
  });

  it('carries on after an engine crash: the run is failed with a reason, the server and the database are fine', async () => {
    const c = await client();
    const config: TrainConfig = tinyConfig({ epochs: 1, seed: 0 }, { inputSize: 28, classes: 10 });
    // Data sources are folders: `synthetic:` specs are for the CLI and tests of the engine only.
    const synthetic = await c.call('runs:start', { data: { path: 'synthetic', settings: {}, limitTrain: null, limitVal: null }, config });
    expect(synthetic).toMatchObject({ ok: false, error: { field: 'path' } });
    const r = await c.call('runs:start', {
      data: { path: sampleDatasetPath(), settings: { size: 28, channels: 1 }, limitTrain: 64, limitVal: 32 },
      config,
    });
    expect(r.ok).toBe(true);
    const runId = (r as { value: { runId: number } }).value.runId;
    await services.manager.ended(runId);
    const shown = (await c.call('runs:show', { runId })) as { ok: true; value: { run: { status: string; error: string; failureReason: string } } };
    expect(shown.value.run).toMatchObject({ status: 'failed', failureReason: 'crashed' });
    expect(shown.value.run.error).toMatch(/engine process ended unexpectedly/);
    expect(c.events.some((e) => e.event === 'run:event' && (e.payload as { event: { type: string } }).event.type === 'failed')).toBe(true);
    expect(c.events.some((e) => e.event === 'runs:changed')).toBe(true);
    expect(services.store.integrityCheck()).toEqual(['ok']);
    expect(await c.call('runs:list')).toMatchObject({ ok: true });
    c.close();
  });
});
