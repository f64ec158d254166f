import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startServices, type Services } from '../../../main/api/services.js';
import { heldMessage } from '../../../main/jobs/test-hooks.js';
import { SESSION_HEADER, startServer, TOKEN_HEADER, type RunningServer } from '../../../main/server/server.js';
import type { ApiResult } from '../../../shared/api.js';
import { closed, httpRequest, rawUpgrade, wsFrame } from '../../helpers/raw-http.js';
import { tempDirs, tinyConfig } from '../../helpers/store.js';

/**
 * What a hostile local page (or a broken client) can send `adjoin serve`:
 * none of it may take the server down, or the run it is training.
 */
const temp = tempDirs('adjoin-hostile-');
const root = temp();
const release = join(root, 'release');
let services: Services;
let server: RunningServer;
let runId: number;
const connectionErrors: string[] = [];

const origin = (): string => `http://127.0.0.1:${server.port}`;

async function session(): Promise<string> {
  const r = await httpRequest(server.port, '/session', { method: 'POST', headers: { Origin: origin(), [TOKEN_HEADER]: server.token } });
  expect(r.status).toBe(200);
  return (JSON.parse(r.body) as { session: string }).session;
}

/** A well-behaved client's call: the server still answers. */
async function call(name: string, secret: string): Promise<ApiResult<unknown>> {
  const ws = new WebSocket(`ws://127.0.0.1:${server.port}/api?session=${secret}`, { origin: origin() });
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  const answer = new Promise<ApiResult<unknown>>((resolve) =>
    ws.once('message', (raw) => resolve((JSON.parse(String(raw)) as { result: ApiResult<unknown> }).result)),
  );
  ws.send(JSON.stringify({ id: 1, call: name, req: {} }));
  const result = await answer;
  ws.close();
  return result;
}

/** A valid upgrade, then the bytes given: the server must close that socket and nothing else. */
async function misbehave(bytes: Buffer): Promise<void> {
  const { socket, status } = await rawUpgrade(server.port, `/api?session=${await session()}`, { Origin: origin() });
  expect(status).toBe(101);
  socket.write(bytes);
  await closed(socket);
}

beforeAll(async () => {
  writeFileSync(join(root, 'index.html'), '<!doctype html><title>Adjoin</title>');
  services = startServices({
    database: join(root, 'home', 'adjoin.db'),
    shell: 'browser',
    native: null,
    env: { ...process.env, ADJOIN_TEST_HOOKS: '1', ADJOIN_TEST_HOLD_AT_STEP: '2', ADJOIN_TEST_RELEASE_FILE: release },
  });
  server = await startServer({
    handlers: services.handlers,
    subscribe: (l) => services.manager.subscribe(l),
    rendererDir: root,
    onConnectionError: (e) => connectionErrors.push(e.message),
  });
  // A run caught mid-training for the whole file: it must survive everything below.
  const held = new Promise<void>((resolve) => {
    services.manager.subscribe((e) => {
      if (e.type === 'run:event' && e.event.type === 'log' && e.event.message === heldMessage(2)) resolve();
    });
  });
  runId = services.manager.startTrain(
    { path: 'synthetic:classes=3,size=12,train=64,val=16', settings: {}, limitTrain: null, limitVal: null },
    tinyConfig({ epochs: 1 }),
  );
  await held;
});

afterAll(async () => {
  writeFileSync(release, '');
  await server?.close();
  await services?.close();
});

describe('adjoin serve under hostile traffic', () => {
  it('refuses a foreign Origin, a bad Host and a missing session before the upgrade, with plain HTTP', async () => {
    const secret = await session();
    const cases: Array<[Record<string, string>, string, number]> = [
      [{ Origin: 'http://evil.example' }, `/api?session=${secret}`, 403],
      [{ Origin: origin() }, '/api?session=forged', 401],
      [{ Origin: origin() }, '/api', 401],
      [{ Origin: origin() }, `/elsewhere?session=${secret}`, 404],
    ];
    for (const [headers, path, status] of cases) {
      const { socket, status: got } = await rawUpgrade(server.port, path, headers);
      expect(got, `${path} ${JSON.stringify(headers)}`).toBe(status);
      await closed(socket);
    }
  });

  it('survives clients that reset the connection right after a refusal, hundreds of times', async () => {
    for (let i = 0; i < 300; i++) {
      const { socket } = await rawUpgrade(server.port, '/api?session=x', { Origin: 'http://evil.example' });
      const gone = closed(socket);
      socket.resetAndDestroy();
      await gone;
    }
    // And resets in the middle of the request, before any answer.
    for (let i = 0; i < 100; i++) {
      const { socket } = await rawUpgrade(server.port, '/', { Origin: origin() }).catch(() => ({ socket: null }));
      socket?.resetAndDestroy();
    }
    expect((await httpRequest(server.port, '/')).status).toBe(200);
  });

  it('closes only the socket that sends a frame with a reserved bit, an unmasked frame, invalid UTF-8 or an oversized message', async () => {
    const text = Buffer.from(JSON.stringify({ id: 1, call: 'app:info', req: {} }));
    await misbehave(wsFrame({ opcode: 1, payload: text, rsv1: true }));
    await misbehave(wsFrame({ opcode: 1, payload: text, mask: false }));
    await misbehave(wsFrame({ opcode: 1, payload: Buffer.from([0x7b, 0xff, 0xfe, 0x7d]) }));
    await misbehave(wsFrame({ opcode: 1, payload: Buffer.alloc(16), declaredLength: (1 << 20) + 1 }));
    await misbehave(wsFrame({ opcode: 0x0b, payload: Buffer.alloc(0) }));
    expect(connectionErrors.length).toBeGreaterThanOrEqual(5);
    expect(await call('app:info', await session())).toMatchObject({ ok: true });
  });

  it('survives hundreds of sockets opened and closed at once, with and without a session', async () => {
    const secret = await session();
    const all: Array<Promise<void>> = [];
    for (let i = 0; i < 300; i++) {
      const ws = new WebSocket(`ws://127.0.0.1:${server.port}/api?session=${i % 2 === 0 ? secret : 'forged'}`, { origin: origin() });
      ws.on('error', () => undefined);
      all.push(
        new Promise<void>((resolve) => {
          ws.once('open', () => (i % 3 === 0 ? ws.terminate() : ws.close()));
          ws.once('close', () => resolve());
        }),
      );
    }
    await Promise.all(all);
    expect(await call('runs:list', secret)).toMatchObject({ ok: true });
  });

  it('the link’s token admits one page only; its session works, a used token or a forged session does not', async () => {
    const token = server.token;
    const first = await httpRequest(server.port, '/session', { method: 'POST', headers: { Origin: origin(), [TOKEN_HEADER]: token } });
    expect(first.status).toBe(200);
    const again = await httpRequest(server.port, '/session', { method: 'POST', headers: { Origin: origin(), [TOKEN_HEADER]: token } });
    expect(again.status).toBe(401);
    expect(server.token).not.toBe(token);
    const foreign = await httpRequest(server.port, '/session', { method: 'POST', headers: { Origin: 'http://evil.example', [TOKEN_HEADER]: server.token } });
    expect(foreign.status).toBe(403);
    const { session: secret } = JSON.parse(first.body) as { session: string };
    expect((await httpRequest(server.port, '/session', { headers: { [SESSION_HEADER]: secret } })).status).toBe(204);
    expect((await httpRequest(server.port, '/session', { headers: { [SESSION_HEADER]: 'forged' } })).status).toBe(401);
  });

  it('and the run it was training when all this began still finishes', async () => {
    writeFileSync(release, '');
    expect(await services.manager.ended(runId)).toEqual({ status: 'finished' });
    expect(services.store.runs.require(runId)).toMatchObject({ status: 'finished', epochsDone: 1 });
  });
});
