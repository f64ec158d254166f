import type { ApiClient } from '../../../../shared/api.js';
import { desktopBridge } from './bridge.js';
import { IpcClient } from './ipc-client.js';
import { forgetToken, takeToken } from './token.js';
import { type ConnectionState, UNAUTHORIZED_CLOSE_CODE, WsClient } from './ws-client.js';

/** The client the app talks through, and how to follow its connection. */
export interface Connection {
  client: ApiClient;
  /** The desktop app's IPC never drops; the browser shell's socket can. */
  onState(listener: (s: ConnectionState) => void): () => void;
}

function sessionStore(): Storage | null {
  try {
    return window.sessionStorage;
  } catch {
    return null;
  }
}

/** The preload's bridge when present (the desktop app), else the browser shell's WebSocket. */
export function connect(): Connection {
  const bridge = desktopBridge();
  if (bridge !== null) {
    return { client: new IpcClient(bridge), onState: (l) => (l({ kind: 'open', reconnected: false }), () => undefined) };
  }
  const storage = sessionStore();
  const token = takeToken({ location: window.location, history: window.history, storage });
  const scheme = window.location.protocol === 'https:' ? 'wss' : 'ws';
  const url = `${scheme}://${window.location.host}/api?token=${encodeURIComponent(token ?? '')}`;
  const ws = new WsClient({ url });
  ws.onState((s) => {
    // A refused token stays refused: forget it so a fresh link is needed.
    if (s.kind === 'unauthorized') forgetToken(storage);
  });
  return { client: ws, onState: (l) => ws.onState(l) };
}

export { UNAUTHORIZED_CLOSE_CODE };
export type { ConnectionState };
