import type { ApiClient } from '../../../../shared/api.js';
import { desktopBridge } from './bridge.js';
import { IpcClient } from './ipc-client.js';
import { sessionHolds, tradeToken, type FetchLike } from './session.js';
import { takeToken } from './token.js';
import { type ConnectionState, UNAUTHORIZED_CLOSE_CODE, WsClient } from './ws-client.js';

/** The client the app talks through, and how to follow its connection. */
export interface Connection {
  client: ApiClient;
  /** The desktop app's IPC never drops; the browser shell's socket can. */
  onState(listener: (s: ConnectionState) => void): () => void;
}

const pageFetch: FetchLike = (url, init) => window.fetch(url, { ...init, cache: 'no-store', credentials: 'omit' });

/** The preload's bridge when present (the desktop app), else the browser shell's WebSocket. */
export function connect(): Connection {
  const bridge = desktopBridge();
  if (bridge !== null) {
    return { client: new IpcClient(bridge), onState: (l) => (l({ kind: 'open', reconnected: false }), () => undefined) };
  }
  const token = takeToken({ location: window.location, history: window.history });
  const scheme = window.location.protocol === 'https:' ? 'wss' : 'ws';
  // The session lives in this closure only: a reload needs a fresh link.
  let secret: string | null = null;
  const url = tradeToken(token, pageFetch).then((s) => {
    secret = s;
    return s === null ? null : `${scheme}://${window.location.host}/api?session=${encodeURIComponent(s)}`;
  });
  const ws = new WsClient({ url, stillAuthorized: () => (secret === null ? Promise.resolve(false) : sessionHolds(secret, pageFetch)) });
  return { client: ws, onState: (l) => ws.onState(l) };
}

export { UNAUTHORIZED_CLOSE_CODE };
export type { ConnectionState };
