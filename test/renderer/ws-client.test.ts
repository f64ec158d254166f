import { describe, expect, it } from 'vitest';
import { ApiError } from '../../shared/api.js';
import { backoffDelay, type ConnectionState, type SocketLike, WsClient, type WsClientOptions } from '../../renderer/src/lib/api/ws-client.js';

/** A socket the test drives: it records what the client sends and plays the server's part. */
class FakeSocket implements SocketLike {
  sent: unknown[] = [];
  closedWith: number | null = null;
  onopen: ((ev: unknown) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  constructor(readonly url: string) {}
  send(data: string): void {
    this.sent.push(JSON.parse(data));
  }
  close(code = 1000): void {
    this.closedWith = code;
  }
  open(): void {
    this.onopen?.({});
  }
  receive(message: unknown): void {
    this.onmessage?.({ data: JSON.stringify(message) });
  }
  drop(code = 1006): void {
    this.onclose?.({ code, reason: '' });
  }
}

function setup(options: Partial<WsClientOptions> = {}) {
  const sockets: FakeSocket[] = [];
  const timers: Array<{ fn: () => void; ms: number }> = [];
  const states: ConnectionState[] = [];
  const client = new WsClient({
    url: 'ws://127.0.0.1:1234/api?session=s',
    ...options,
    connect: (url) => {
      const s = new FakeSocket(url);
      sockets.push(s);
      return s;
    },
    setTimer: (fn, ms) => timers.push({ fn, ms }),
    clearTimer: () => undefined,
  });
  client.onState((s) => states.push(s));
  return { client, sockets, timers, states, socket: () => sockets[sockets.length - 1]! };
}

describe('WsClient', () => {
  it('queues calls until the socket opens, then answers them by id', async () => {
    const { client, socket } = setup();
    const info = client.call('runs:list', {});
    expect(socket().sent).toEqual([]);
    socket().open();
    expect(socket().sent).toEqual([{ id: 1, call: 'runs:list', req: {} }]);
    socket().receive({ id: 1, result: { ok: true, value: [] } });
    await expect(info).resolves.toEqual([]);
  });

  it('rejects with the main side’s error, its field intact', async () => {
    const { client, socket } = setup();
    socket().open();
    const scan = client.call('dataset:scan', { path: 'relative' });
    socket().receive({
      id: 1,
      result: { ok: false, error: { name: 'InputError', message: "not an absolute path: 'relative'", field: 'path', code: 'input' } },
    });
    const error = await scan.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).message).toBe("not an absolute path: 'relative'");
    expect((error as ApiError).field).toBe('path');
  });

  it('delivers events to every subscriber until it unsubscribes', () => {
    const { client, socket } = setup();
    socket().open();
    const a: unknown[] = [];
    const b: unknown[] = [];
    const offA = client.on('runs:changed', (p) => a.push(p.runId));
    client.on('runs:changed', (p) => b.push(p.runId));
    socket().receive({ event: 'runs:changed', payload: { runId: 3 } });
    offA();
    socket().receive({ event: 'runs:changed', payload: { runId: 4 } });
    expect(a).toEqual([3]);
    expect(b).toEqual([3, 4]);
  });

  it('a faulty handler does not stop the others', () => {
    const { client, socket } = setup();
    socket().open();
    const seen: number[] = [];
    const warn = console.warn;
    console.warn = () => undefined;
    try {
      client.on('runs:changed', () => {
        throw new Error('boom');
      });
      client.on('runs:changed', (p) => seen.push(p.runId));
      socket().receive({ event: 'runs:changed', payload: { runId: 7 } });
    } finally {
      console.warn = warn;
    }
    expect(seen).toEqual([7]);
  });

  it('ignores garbage and answers to calls it never made', () => {
    const { socket } = setup();
    socket().open();
    expect(() => socket().onmessage?.({ data: 'not json' })).not.toThrow();
    expect(() => socket().receive({ id: 99, result: { ok: true, value: 1 } })).not.toThrow();
    expect(() => socket().receive([1, 2])).not.toThrow();
  });

  it('reconnects with growing delays; a call in flight when the socket drops fails, a later one waits', async () => {
    const { client, sockets, timers, states, socket } = setup();
    socket().open();
    const inFlight = client.call('runs:start', {} as never);
    socket().drop();
    await expect(inFlight).rejects.toThrow(/dropped before it answered \(runs:start\)/);
    expect(states.at(-1)).toEqual({ kind: 'reconnecting', attempt: 1, retryInMs: 500 });
    const later = client.call('runs:list', {});
    timers.shift()!.fn();
    expect(sockets).toHaveLength(2);
    socket().drop();
    expect(states.at(-1)).toEqual({ kind: 'reconnecting', attempt: 2, retryInMs: 1000 });
    timers.shift()!.fn();
    socket().open();
    expect(states.at(-1)).toEqual({ kind: 'open', reconnected: true });
    // The queued call goes out on the new socket (it was never sent before).
    expect(socket().sent).toEqual([{ id: 2, call: 'runs:list', req: {} }]);
    socket().receive({ id: 2, result: { ok: true, value: [] } });
    await expect(later).resolves.toEqual([]);
  });

  it('stops on close code 4401: the token was refused', async () => {
    const { client, timers, states, socket } = setup();
    const pending = client.call('app:info', {});
    socket().drop(4401);
    expect(states.at(-1)).toEqual({ kind: 'unauthorized' });
    expect(timers).toHaveLength(0);
    await expect(pending).rejects.toThrow(/refused/);
    await expect(client.call('runs:list', {})).rejects.toThrow(/link printed by adjoin serve/);
  });

  it('opens once the page has traded its token for a session, and calls made meanwhile wait', async () => {
    let admit!: (url: string | null) => void;
    const { client, sockets, socket } = setup({ url: new Promise((resolve) => (admit = resolve)) });
    const info = client.call('runs:list', {});
    expect(sockets).toHaveLength(0);
    admit('ws://127.0.0.1:1234/api?session=tab');
    await Promise.resolve();
    expect(socket().url).toBe('ws://127.0.0.1:1234/api?session=tab');
    socket().open();
    socket().receive({ id: 1, result: { ok: true, value: [] } });
    await expect(info).resolves.toEqual([]);
  });

  it('is unauthorized at once when the token could not be traded (a reload, or a used link)', async () => {
    const { client, sockets, states } = setup({ url: Promise.resolve(null) });
    const pending = client.call('app:info', {});
    await expect(pending).rejects.toThrow(/refused/);
    expect(states.at(-1)).toEqual({ kind: 'unauthorized' });
    expect(sockets).toHaveLength(0);
  });

  it('a socket refused before it opened asks whether the session still holds: no → unauthorized, unknown → reconnect', async () => {
    const answers: Array<boolean | null> = [null, false];
    const asked: number[] = [];
    const { states, timers, socket } = setup({ stillAuthorized: async () => (asked.push(asked.length), answers.shift() ?? null) });
    socket().drop(1006);
    await new Promise((r) => setTimeout(r, 0));
    expect(states.at(-1)).toMatchObject({ kind: 'reconnecting', attempt: 1 });
    timers.shift()!.fn();
    socket().drop(1006);
    await new Promise((r) => setTimeout(r, 0));
    expect(states.at(-1)).toEqual({ kind: 'unauthorized' });
    expect(asked).toHaveLength(2);
    expect(timers).toHaveLength(0);
  });

  it('a socket that was open and dropped reconnects without asking', async () => {
    let asked = 0;
    const { states, socket } = setup({ stillAuthorized: async () => (asked++, false) });
    socket().open();
    socket().drop(1006);
    expect(states.at(-1)).toMatchObject({ kind: 'reconnecting' });
    expect(asked).toBe(0);
  });

  it('refuses a malformed envelope', async () => {
    const { client, socket } = setup();
    socket().open();
    const p = client.call('runs:list', {});
    socket().receive({ id: 1, result: { value: [] } });
    await expect(p).rejects.toThrow(/not a result envelope/);
  });
});

describe('backoffDelay', () => {
  it('doubles from half a second and caps at ten', () => {
    expect([1, 2, 3, 4, 5, 6, 10].map(backoffDelay)).toEqual([500, 1000, 2000, 4000, 8000, 10000, 10000]);
  });
});
