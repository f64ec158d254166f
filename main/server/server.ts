import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { dispatch } from '../api/dispatch.js';
import type { ApiHandlers } from '../api/handlers.js';
import type { ManagerEvent } from '../jobs/host/manager.js';
import { toApiEvent } from '../api/events.js';
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
  /** The per-launch secret; random unless given (tests). */
  token?: string;
}

export interface RunningServer {
  url: string;
  port: number;
  host: string;
  token: string;
  close(): Promise<void>;
}

/** Close code for a socket that came without the launch's token. */
export const BAD_TOKEN = 4401;
const MAX_MESSAGE_BYTES = 1 << 20;

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * The browser shell: the built renderer over HTTP and the API over a
 * WebSocket at /api, on loopback. Other local pages cannot drive it: the
 * socket needs this launch's token and the page's own Origin, and requests
 * whose Host is not this server's are refused (DNS rebinding).
 */
export async function startServer(o: ServerOptions): Promise<RunningServer> {
  const host = o.host ?? '127.0.0.1';
  const token = o.token ?? randomBytes(24).toString('base64url');
  let port = 0;
  const allowedHosts = (): Set<string> => new Set([`${host}:${port}`, `127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`]);
  const allowedOrigins = (): Set<string> => new Set([...allowedHosts()].map((h) => `http://${h}`));

  const http = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (!allowedHosts().has(req.headers.host ?? '')) {
      res.writeHead(421, { 'Content-Type': 'text/plain; charset=utf-8' }).end('misdirected request');
      return;
    }
    serveStatic(o.rendererDir, req, res);
  });

  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES });
  const sockets = new Set<WebSocket>();
  http.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url ?? '/', 'http://placeholder');
    const refuse = (status: number, why: string): void => {
      socket.end(`HTTP/1.1 ${status} ${why}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    };
    if (url.pathname !== '/api') return refuse(404, 'Not Found');
    if (!allowedHosts().has(req.headers.host ?? '')) return refuse(421, 'Misdirected Request');
    // A page from another origin (any other local site) cannot open the socket.
    if (!allowedOrigins().has(req.headers.origin ?? '')) return refuse(403, 'Forbidden');
    wss.handleUpgrade(req, socket, head, (ws) => {
      if (!sameSecret(url.searchParams.get('token') ?? '', token)) {
        ws.close(BAD_TOKEN, 'this page needs the link printed by adjoin serve');
        return;
      }
      sockets.add(ws);
      ws.on('close', () => sockets.delete(ws));
      ws.on('message', (data, isBinary) => {
        if (isBinary) return ws.close(1003, 'text messages only');
        let message: unknown;
        try {
          message = JSON.parse(data.toString('utf8'));
        } catch {
          return ws.close(1007, 'not JSON');
        }
        const m = message as { id?: unknown; call?: unknown; req?: unknown };
        if (typeof message !== 'object' || message === null || typeof m.id !== 'number') return ws.close(1008, 'expected {id, call, req}');
        void dispatch(o.handlers, m.call, m.req).then((result) => {
          if (ws.readyState === ws.OPEN) ws.send(JSON.stringify({ id: m.id, result }));
        });
      });
    });
  });

  const unsubscribe = o.subscribe((e) => {
    const text = JSON.stringify(toApiEvent(e));
    for (const ws of sockets) if (ws.readyState === ws.OPEN) ws.send(text);
  });

  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(o.port ?? 0, host, () => resolve());
  });
  port = (http.address() as AddressInfo).port;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shownHost}:${port}/#token=${token}`,
    port,
    host,
    token,
    close: async () => {
      unsubscribe();
      for (const ws of sockets) ws.terminate();
      wss.close();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}

export { CONTENT_SECURITY_POLICY };
