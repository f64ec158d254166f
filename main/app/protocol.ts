import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, resolve, sep } from 'node:path';
import type { Protocol } from 'electron';
import { DESKTOP_POLICY } from '../../shared/content-security.js';
import { APP_HOST, APP_SCHEME } from './security.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
  '.json': 'application/json',
  '.map': 'application/json',
};

/** Must run before the app is ready: the scheme behaves like https (a secure, standard origin). */
export function registerAppScheme(protocol: Protocol): void {
  protocol.registerSchemesAsPrivileged([{ scheme: APP_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true } }]);
}

/** The file of the renderer an app:// URL names, or null if it names anything outside it. */
export function rendererFile(root: string, raw: string): string | null {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return null;
  }
  if (url.protocol !== `${APP_SCHEME}:` || url.host !== APP_HOST) return null;
  let path: string;
  try {
    path = decodeURIComponent(url.pathname);
  } catch {
    return null;
  }
  if (path.includes('\0')) return null;
  const base = resolve(root);
  const file = resolve(join(base, normalize(path === '/' ? '/index.html' : path)));
  return file === base || file.startsWith(base + sep) ? file : null;
}

/** Serves the built renderer at app://adjoin/ with the app's Content-Security-Policy (no sockets: the app speaks over IPC). */
export function serveRenderer(protocol: Protocol, root: string): void {
  protocol.handle(APP_SCHEME, async (request) => {
    const file = rendererFile(root, request.url);
    const headers = { 'Content-Security-Policy': DESKTOP_POLICY, 'X-Content-Type-Options': 'nosniff' };
    if (file === null) return new Response('forbidden', { status: 403, headers });
    const info = await stat(file).catch(() => null);
    if (info === null || !info.isFile()) return new Response('not found', { status: 404, headers });
    return new Response(await readFile(file), {
      status: 200,
      headers: { ...headers, 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream' },
    });
  });
}
