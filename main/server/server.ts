import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { dispatch } from '../api/dispatch.js';
import type { ApiHandlers } from '../api/handlers.js';
import type { ManagerEvent } from '../jobs/host/manager.js';
import { toApiEvent } from '../api/events.js';
import { ServerAccess } from './access.js';
import { CONTENT_SECURITY_POLICY, serveStatic } from './static-files.js';

export interface ServerOptions {
  handlers: ApiHandlers;
  /** Events to forward to every authenticated socket. */
  subscribe(listener: (e: ManagerEvent) => void): () => void;
  rendererDir: string;
  /** Loopback by default: other machines cannot reach it. */
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** The first one-time token; random unless given (tests). */
  token?: string;
  /** A page used up the printed link: here is the next one (for another tab, or a reload). */
  onLinkUsed?: (next: { url: string; token: string }) => void;
  /** Something went wrong with one connection (it was closed; the server goes on). */
  onConnectionError?: (error: Error) => void;
}

export interface RunningServer {
  /** The link to open now: its token admits one page. */
  readonly url: string;
  readonly port: number;
  readonly host: string;
  /** The token the current link carries (one use). */
  readonly token: string;
  close(): Promise<void>;
}

const MAX_MESSAGE_BYTES = 1 << 20;
/** The header a page sends its link's token in, to trade it for a session. */
export const TOKEN_HEADER = 'x-adjoin-token';
/** The header a page asks with whether its session still holds. */
export const SESSION_HEADER = 'x-adjoin-session';

/** A plain HTTP answer on a socket that asked to upgrade, then the socket is closed. */
function refuseUpgrade(socket: Duplex, status: number, why: string): void {
  if (socket.destroyed) return;
  socket.end(`HTTP/1.1 ${status} ${why}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 0\r\n\r\n`);
}

function sendJson(ws: WebSocket, value: unknown): void {
  if (ws.readyState !== ws.OPEN) return;
  try {
    ws.send(JSON.stringify(value));
  } catch {
    // Nothing the socket can be told: its reader went away or the value cannot be sent.
  }
}

/** Who may talk to the server, and where a misbehaving connection is reported. */
interface Gate {
  hosts(): Set<string>;
  origins(): Set<string>;
  access: ServerAccess;
  /** The link to print: this launch's address with the next one-time token. */
  link(): string;
  connectionError(e: Error): void;
}

/**
 * `/session`: POST trades the link's one-time token for a session secret
 * (from the page's own origin only); GET says whether a session still holds.
 */
function answerSession(gate: Gate, req: IncomingMessage, res: ServerResponse, onLinkUsed: ServerOptions['onLinkUsed']): void {
  const headers = { 'Cache-Control': 'no-store', 'Content-Security-Policy': CONTENT_SECURITY_POLICY, 'X-Content-Type-Options': 'nosniff' };
  const header = (name: string): string => {
    const v = req.headers[name];
    return typeof v === 'string' ? v : '';
  };
  if (req.method === 'POST') {
    // A page of another origin cannot trade a token it found somewhere.
    if (!gate.origins().has(header('origin'))) return void res.writeHead(403, headers).end();
    const secret = gate.access.exchange(header(TOKEN_HEADER));
    if (secret === null) return void res.writeHead(401, headers).end();
    res.writeHead(200, { ...headers, 'Content-Type': 'application/json; charset=utf-8' }).end(JSON.stringify({ session: secret }));
    try {
      onLinkUsed?.({ url: gate.link(), token: gate.access.token });
    } catch {
      // Printing the next link is a courtesy; the exchange stands.
    }
    return;
  }
  if (req.method === 'GET') return void res.writeHead(gate.access.admits(header(SESSION_HEADER)) ? 204 : 401, headers).end();
  res.writeHead(405, { ...headers, Allow: 'GET, POST' }).end();
}

/** An accepted API socket: each text message is one call, answered by id; a bad message or frame ends this socket only. */
function serveApiSocket(ws: WebSocket, handlers: ApiHandlers, gate: Gate, sockets: Set<WebSocket>): void {
  // Bad frames (reserved bits, unmasked, invalid UTF-8, too large) end this socket only.
  ws.on('error', (e: Error) => {
    gate.connectionError(e);
    ws.terminate();
  });
  sockets.add(ws);
  ws.on('close', () => sockets.delete(ws));
  ws.on('message', (data: RawData, isBinary: boolean) => {
    if (isBinary) return ws.close(1003, 'text messages only');
    let message: unknown;
    try {
      message = JSON.parse(data.toString('utf8'));
    } catch {
      return ws.close(1007, 'not JSON');
    }
    const m = message as { id?: unknown; call?: unknown; req?: unknown };
    if (typeof message !== 'object' || message === null || typeof m.id !== 'number') return ws.close(1008, 'expected {id, call, req}');
    void dispatch(handlers, m.call, m.req).then(
      (result) => sendJson(ws, { id: m.id, result }),
      (e: unknown) => gate.connectionError(e instanceof Error ? e : new Error(String(e))),
    );
  });
}

/** An upgrade to /api: refused with plain HTTP before the WebSocket exists unless host, origin and session all hold. */
function upgrade(gate: Gate, wss: WebSocketServer, req: IncomingMessage, socket: Duplex, head: Buffer, accept: (ws: WebSocket) => void): void {
  // The client may reset the connection at any moment, before or after our answer.
  socket.on('error', (e: Error) => {
    gate.connectionError(e);
    socket.destroy();
  });
  let url: URL;
  try {
    url = new URL(req.url ?? '/', 'http://placeholder');
  } catch {
    return refuseUpgrade(socket, 400, 'Bad Request');
  }
  if (url.pathname !== '/api') return refuseUpgrade(socket, 404, 'Not Found');
  if (!gate.hosts().has(req.headers.host ?? '')) return refuseUpgrade(socket, 421, 'Misdirected Request');
  // A page from another origin (any other local site) cannot open the socket.
  if (!gate.origins().has(req.headers.origin ?? '')) return refuseUpgrade(socket, 403, 'Forbidden');
  if (!gate.access.admits(url.searchParams.get('session') ?? '')) return refuseUpgrade(socket, 401, 'Unauthorized');
  wss.handleUpgrade(req, socket, head, accept);
}

/** Sends every manager event to every open socket; one closing under us is skipped. */
function broadcast(sockets: Set<WebSocket>, e: ManagerEvent): void {
  const text = JSON.stringify(toApiEvent(e));
  for (const ws of sockets) {
    if (ws.readyState !== ws.OPEN) continue;
    try {
      ws.send(text);
    } catch {
      // A socket closing under us; its close handler removes it.
    }
  }
}

/**
 * The browser shell: the built renderer over HTTP and the API over a
 * WebSocket at /api, on loopback. Other local pages cannot drive it: the
 * socket needs a session (traded once for the printed link's token) and the
 * page's own Origin, and requests whose Host is not this server's are
 * refused (DNS rebinding) — all before a WebSocket is opened, as plain HTTP
 * answers. Whatever a client sends or however it hangs up, only its own
 * connection ends: every socket has an error handler.
 */
export async function startServer(o: ServerOptions): Promise<RunningServer> {
  const host = o.host ?? '127.0.0.1';
  const access = new ServerAccess(o.token);
  let port = 0;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  const hosts = (): Set<string> => new Set([`${host}:${port}`, `127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`]);
  const gate: Gate = {
    hosts,
    origins: () => new Set([...hosts()].map((h) => `http://${h}`)),
    access,
    link: () => `http://${shownHost}:${port}/#token=${access.token}`,
    connectionError: (e) => {
      try {
        o.onConnectionError?.(e);
      } catch {
        // A failing observer must not turn one bad connection into a crash.
      }
    },
  };

  const http = createServer((req: IncomingMessage, res: ServerResponse) => {
    res.on('error', gate.connectionError);
    if (!hosts().has(req.headers.host ?? '')) {
      res.writeHead(421, { 'Content-Type': 'text/plain; charset=utf-8' }).end('misdirected request');
      return;
    }
    if ((req.url ?? '').split('?')[0] === '/session') return answerSession(gate, req, res, o.onLinkUsed);
    serveStatic(o.rendererDir, req, res);
  });
  // A malformed request or a reset before the response: close that socket and carry on.
  http.on('clientError', (e: Error, socket: Duplex) => {
    gate.connectionError(e);
    if (socket.writable && !(socket as Socket).writableEnded) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });

  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES });
  wss.on('error', gate.connectionError);
  const sockets = new Set<WebSocket>();
  http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) =>
    upgrade(gate, wss, req, socket, head, (ws) => serveApiSocket(ws, o.handlers, gate, sockets)),
  );
  const unsubscribe = o.subscribe((e) => broadcast(sockets, e));

  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(o.port ?? 0, host, () => resolve());
  });
  port = (http.address() as AddressInfo).port;
  // Listening: from now on an error of the server itself is reported, not thrown at the process.
  http.on('error', gate.connectionError);
  return {
    get url() {
      return gate.link();
    },
    port,
    host,
    get token() {
      return access.token;
    },
    close: async () => {
      unsubscribe();
      for (const ws of sockets) ws.terminate();
      wss.close();
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}

export { CONTENT_SECURITY_POLICY };
