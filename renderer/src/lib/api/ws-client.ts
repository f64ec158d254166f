import type { ApiCall, ApiClient, ApiEvent, ApiEvents, ApiRequest, ApiResponse } from '../../../../shared/api.js';
import { transportError, unwrap } from './result.js';

/**
 * The browser-shell transport: one WebSocket to `adjoin serve`.
 * client → server `{id, call, req}`; server → client `{id, result}` for a
 * response and `{event, payload}` for an event. A dropped socket is
 * reopened with backoff. The server refuses a page without a session before
 * the upgrade (a browser sees only a failed socket), so a socket that fails
 * to open asks `stillAuthorized` whether retrying can help; close code 4401
 * says the same from an open socket.
 */

export const UNAUTHORIZED_CLOSE_CODE = 4401;

export type ConnectionState =
  { kind: 'connecting' } | { kind: 'open'; reconnected: boolean } | { kind: 'reconnecting'; attempt: number; retryInMs: number } | { kind: 'unauthorized' };

/** The part of the DOM WebSocket the client uses (a fake one in tests). */
export interface SocketLike {
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}

export interface WsClientOptions {
  /** The socket's address, or the promise of one (the page first trades its link's token for a session); null: refused. */
  url: string | Promise<string | null>;
  /** Asked when a socket closes before it opened: false means the server no longer admits this page; null, it cannot tell (down). */
  stillAuthorized?: () => Promise<boolean | null>;
  connect?: (url: string) => SocketLike;
  /** Milliseconds before reconnect attempt `attempt` (1-based). */
  backoff?: (attempt: number) => number;
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (handle: unknown) => void;
}

/** 0.5 s, 1 s, 2 s, 4 s … capped at 10 s: quick after a blip, quiet while the server is down. */
export function backoffDelay(attempt: number): number {
  return Math.min(10_000, 500 * 2 ** Math.max(0, attempt - 1));
}

interface Pending {
  name: string;
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  /** Sent on the current socket (else still queued for the next open one). */
  sent: boolean;
  message: string;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export class WsClient implements ApiClient {
  private socket: SocketLike | null = null;
  private isOpen = false;
  private everOpened = false;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly handlers = new Map<string, Set<(payload: unknown) => void>>();
  private readonly stateListeners = new Set<(s: ConnectionState) => void>();
  private attempt = 0;
  private timer: unknown = null;
  private closed = false;
  private current: ConnectionState = { kind: 'connecting' };
  private readonly connect: (url: string) => SocketLike;
  private readonly backoff: (attempt: number) => number;
  private readonly setTimer: (fn: () => void, ms: number) => unknown;
  private readonly clearTimer: (handle: unknown) => void;
  private url: string | null = null;

  constructor(private readonly options: WsClientOptions) {
    this.connect = options.connect ?? ((url) => new WebSocket(url) as unknown as SocketLike);
    this.backoff = options.backoff ?? backoffDelay;
    this.setTimer = options.setTimer ?? ((fn, ms) => setTimeout(fn, ms));
    this.clearTimer = options.clearTimer ?? ((h) => clearTimeout(h as ReturnType<typeof setTimeout>));
    if (typeof options.url === 'string') {
      this.url = options.url;
      this.open();
      return;
    }
    options.url.then(
      (url) => {
        if (this.closed) return;
        if (url === null) return this.refused();
        this.url = url;
        this.open();
      },
      () => this.refused(),
    );
  }

  get state(): ConnectionState {
    return this.current;
  }

  /** Follows the connection (the disconnected banner); called at once with the current state. */
  onState(listener: (s: ConnectionState) => void): () => void {
    this.stateListeners.add(listener);
    listener(this.current);
    return () => this.stateListeners.delete(listener);
  }

  call<K extends ApiCall>(name: K, req: ApiRequest<K>): Promise<ApiResponse<K>> {
    if (this.current.kind === 'unauthorized') {
      return Promise.reject(transportError('adjoin serve refused this page’s token: open the link printed by adjoin serve', 'Unauthorized'));
    }
    if (this.closed) return Promise.reject(transportError('the connection to adjoin serve is closed'));
    const id = this.nextId++;
    const message = JSON.stringify({ id, call: name, req });
    return new Promise<ApiResponse<K>>((resolve, reject) => {
      const p: Pending = { name, resolve: resolve as (v: unknown) => void, reject, sent: false, message };
      this.pending.set(id, p);
      if (this.isOpen) this.send(p);
    });
  }

  on<E extends ApiEvent>(name: E, handler: (payload: ApiEvents[E]) => void): () => void {
    let set = this.handlers.get(name);
    if (set === undefined) {
      set = new Set();
      this.handlers.set(name, set);
    }
    const h = handler as (payload: unknown) => void;
    set.add(h);
    return () => set.delete(h);
  }

  /** Closes the socket for good; unanswered calls are rejected. */
  close(): void {
    this.closed = true;
    if (this.timer !== null) this.clearTimer(this.timer);
    this.socket?.close(1000, 'closed by the page');
    this.rejectAll(() => true, 'the connection to adjoin serve was closed');
  }

  private setState(s: ConnectionState): void {
    this.current = s;
    for (const l of this.stateListeners) l(s);
  }

  private send(p: Pending): void {
    try {
      this.socket?.send(p.message);
      p.sent = true;
    } catch {
      // The socket is closing; onclose re-queues or rejects.
    }
  }

  private refused(): void {
    this.rejectAll(() => true, 'adjoin serve refused this page’s token');
    this.setState({ kind: 'unauthorized' });
  }

  private open(): void {
    this.timer = null;
    if (this.closed || this.url === null) return;
    let socket: SocketLike;
    try {
      socket = this.connect(this.url);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.socket = socket;
    socket.onopen = () => {
      if (this.socket !== socket) return;
      this.isOpen = true;
      const reconnected = this.everOpened;
      this.everOpened = true;
      this.attempt = 0;
      this.setState({ kind: 'open', reconnected });
      for (const p of this.pending.values()) if (!p.sent) this.send(p);
    };
    socket.onmessage = (ev) => {
      if (this.socket === socket) this.receive(ev.data);
    };
    socket.onerror = () => {
      // A close event follows every error; the reconnect happens there.
    };
    socket.onclose = (ev) => {
      if (this.socket !== socket) return;
      const opened = this.isOpen;
      this.socket = null;
      this.isOpen = false;
      // A call that went out on this socket may or may not have run: say so
      // rather than send it twice (runs:start must not start two runs).
      this.rejectAll((p) => p.sent, 'the connection to adjoin serve dropped before it answered');
      if (ev.code === UNAUTHORIZED_CLOSE_CODE) return this.refused();
      if (this.closed) return;
      const ask = this.options.stillAuthorized;
      if (opened || ask === undefined) return this.scheduleReconnect();
      // Refused before the upgrade, or the server is down: only the server can say which.
      void ask().then(
        (admitted) => {
          if (this.closed) return;
          if (admitted === false) this.refused();
          else this.scheduleReconnect();
        },
        () => this.scheduleReconnect(),
      );
    };
  }

  private scheduleReconnect(): void {
    this.attempt += 1;
    const delay = this.backoff(this.attempt);
    this.setState({ kind: 'reconnecting', attempt: this.attempt, retryInMs: delay });
    this.timer = this.setTimer(() => this.open(), delay);
  }

  private rejectAll(which: (p: Pending) => boolean, why: string): void {
    for (const [id, p] of this.pending) {
      if (!which(p)) continue;
      this.pending.delete(id);
      p.reject(transportError(`${why} (${p.name})`));
    }
  }

  private receive(data: unknown): void {
    let message: unknown;
    try {
      message = typeof data === 'string' ? JSON.parse(data) : null;
    } catch {
      return;
    }
    if (!isRecord(message)) return;
    if (typeof message.id === 'number' && 'result' in message) {
      const p = this.pending.get(message.id);
      if (p === undefined) return;
      this.pending.delete(message.id);
      try {
        p.resolve(unwrap(message.result, p.name));
      } catch (error) {
        p.reject(error instanceof Error ? error : new Error(String(error)));
      }
      return;
    }
    if (typeof message.event === 'string') {
      const set = this.handlers.get(message.event);
      if (set === undefined) return;
      for (const h of [...set]) {
        try {
          h(message.payload);
        } catch (error) {
          // One faulty view must not stop the others from hearing the event.
          console.warn(`a handler of ${message.event} failed`, error);
        }
      }
    }
  }
}
