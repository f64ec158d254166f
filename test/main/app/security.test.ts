import { EventEmitter } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it, vi } from 'vitest';

// A stand-in for the electron module: records what the app asks of it.
const recorded = vi.hoisted(() => ({
  windows: [] as Array<{ options: Record<string, unknown>; url: string | null }>,
  ipcHandlers: new Map<string, (event: unknown, ...args: unknown[]) => unknown>(),
}));

vi.mock('electron', async () => {
  const { EventEmitter } = await import('node:events');
  class BrowserWindow extends EventEmitter {
    webContents = { send: vi.fn(), isDestroyed: () => false };
    private readonly record: { options: Record<string, unknown>; url: string | null };
    constructor(options: Record<string, unknown>) {
      super();
      this.record = { options, url: null };
      recorded.windows.push(this.record);
    }
    async loadURL(url: string): Promise<void> {
      this.record.url = url;
    }
    show(): void {}
    isDestroyed(): boolean {
      return false;
    }
  }
  return {
    BrowserWindow,
    ipcMain: { handle: (channel: string, fn: (event: unknown, ...args: unknown[]) => unknown) => recorded.ipcHandlers.set(channel, fn) },
  };
});

const { createMainWindow } = await import('../../../main/app/window.js');
const { hardenApp, isAppUrl, isTrustedSender, APP_URL } = await import('../../../main/app/security.js');
const { rendererFile, serveRenderer } = await import('../../../main/app/protocol.js');
const { serveApiOverIpc, API_CHANNEL } = await import('../../../main/app/ipc.js');

const root = mkdtempSync(join(tmpdir(), 'adjoin-app-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('the main window', () => {
  it('has the security checklist in its web preferences and loads the app origin', async () => {
    await createMainWindow('/app/build/main/app/preload.cjs');
    const { options, url } = recorded.windows.at(-1)!;
    expect(options['webPreferences']).toMatchObject({
      preload: '/app/build/main/app/preload.cjs',
      contextIsolation: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      sandbox: true,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
      navigateOnDragDrop: false,
    });
    expect(url).toBe(APP_URL);
    expect(options).toMatchObject({ width: 1280, height: 800 });
  });
});

describe('navigation, new windows and permissions', () => {
  const app = new EventEmitter();
  const handlers: { request?: (c: unknown, p: string, cb: (ok: boolean) => void) => void; check?: (c: unknown, p: string) => boolean } = {};
  const session = {
    setPermissionRequestHandler: (h: typeof handlers.request) => (handlers.request = h),
    setPermissionCheckHandler: (h: typeof handlers.check) => (handlers.check = h),
  };
  const contents = Object.assign(new EventEmitter(), {
    openHandler: null as null | ((d: { url: string }) => { action: string }),
    setWindowOpenHandler(h: (d: { url: string }) => { action: string }) {
      this.openHandler = h;
    },
  });
  hardenApp(app as never, session as never);
  app.emit('web-contents-created', {}, contents);

  const navigate = (event: string, url: string): boolean => {
    let prevented = false;
    contents.emit(event, { preventDefault: () => (prevented = true), url }, url);
    return prevented;
  };

  it.each([
    'https://app.example.com.evil.test',
    'app://adjoin.evil.test/index.html',
    'app://adjoin@evil.test/',
    'file:///etc/passwd',
    'javascript:alert(1)',
    'http://127.0.0.1:8080/',
    'not a url',
  ])('blocks navigation and redirects to %s', (url) => {
    expect(navigate('will-navigate', url)).toBe(true);
    expect(navigate('will-redirect', url)).toBe(true);
  });

  it('lets the app navigate within itself', () => {
    expect(navigate('will-navigate', 'app://adjoin/index.html#history')).toBe(false);
  });

  it.each(['https://example.com/', 'app://adjoin/index.html', 'javascript:alert(1)', 'file:///'])('denies a new window for %s', (url) => {
    expect(contents.openHandler!({ url })).toEqual({ action: 'deny' });
  });

  it('refuses webviews', () => {
    let prevented = false;
    contents.emit('will-attach-webview', { preventDefault: () => (prevented = true) });
    expect(prevented).toBe(true);
  });

  it.each(['media', 'notifications', 'geolocation', 'clipboard-read', 'openExternal'])('denies the %s permission', (permission) => {
    let granted: boolean | null = null;
    handlers.request!({}, permission, (ok) => (granted = ok));
    expect(granted).toBe(false);
    expect(handlers.check!({}, permission)).toBe(false);
  });
});

describe('who may call the API over IPC', () => {
  const calls: unknown[] = [];
  const handlers = new Proxy(
    {},
    {
      get: (_t, name) => async (req: unknown) => {
        calls.push([name, req]);
        return { fine: true };
      },
    },
  );
  beforeEach(() => (calls.length = 0));
  serveApiOverIpc(handlers as never);
  const invoke = recorded.ipcHandlers.get(API_CHANNEL)!;

  it.each([
    ['no frame (after a navigation)', null],
    ['a subframe', { url: 'app://adjoin/index.html', parent: {} }],
    ['a foreign origin', { url: 'https://evil.test/', parent: null }],
    ['a look-alike origin', { url: 'app://adjoin.evil.test/', parent: null }],
  ])('refuses %s, with no side effects', async (_name, senderFrame) => {
    const r = await invoke({ senderFrame, sender: {} }, 'runs:delete', { runId: 1 });
    expect(r).toMatchObject({ ok: false, error: { code: 'untrusted-sender' } });
    expect(calls).toEqual([]);
  });

  it.each([
    ['runs:delete', { runId: '1; DROP TABLE runs' }],
    ['runs:delete', null],
    ['runs:export', { runId: 1, format: 'exe', fp16: false, full: false, outDir: '/tmp' }],
    ['runs:export', { runId: 1, format: 'tflite', precision: 'int4', full: false, outDir: '/tmp' }],
    ['runs:export', { runId: 1, format: 'onnx', precision: 'int8', calibration: 'all', full: false, outDir: '/tmp' }],
    ['dataset:scan', { path: 42 }],
    ['__proto__', {}],
    [{ toString: (): string => 'runs:list' }, {}],
    ['runs:start', { data: { path: '/d', settings: {}, limitTrain: null, limitVal: null }, config: { model: 'resnet' } }],
  ])('rejects a malformed call %j with a typed error, before any handler runs', async (name, req) => {
    const r = await invoke({ senderFrame: { url: 'app://adjoin/index.html', parent: null }, sender: {} }, name, req);
    expect(r).toMatchObject({ ok: false, error: { name: 'ApiError' } });
    expect(calls).toEqual([]);
  });

  it('passes a well-formed call from the app to its handler', async () => {
    const r = await invoke({ senderFrame: { url: 'app://adjoin/index.html', parent: null }, sender: {} }, 'runs:show', { runId: 3 });
    expect(r).toEqual({ ok: true, value: { fine: true } });
    expect(calls).toEqual([['runs:show', { runId: 3 }]]);
  });
});

describe('the app:// protocol', () => {
  const dist = join(root, 'dist');
  mkdirSync(dist);
  writeFileSync(join(dist, 'index.html'), '<!doctype html>');

  it('maps the app origin to files of the renderer only', () => {
    expect(rendererFile(dist, 'app://adjoin/')).toBe(join(dist, 'index.html'));
    expect(rendererFile(dist, 'app://adjoin/assets/app.js')).toBe(join(dist, 'assets', 'app.js'));
    for (const url of [
      'app://adjoin/../secret',
      'app://adjoin/%2e%2e/secret',
      'app://adjoin/..%2f..%2fetc%2fpasswd',
      'app://other/index.html',
      'file:///etc/passwd',
      'app://adjoin/%00',
    ]) {
      const file = rendererFile(dist, url);
      expect(file === null || file.startsWith(dist)).toBe(true);
    }
  });

  it('serves the page with a policy that allows no WebSocket (the app speaks over IPC), in its header and in the page itself', async () => {
    let handler: ((request: { url: string }) => Promise<Response>) | null = null;
    serveRenderer({ handle: (_scheme: string, fn: typeof handler) => (handler = fn) } as never, dist);
    const response = await handler!({ url: 'app://adjoin/index.html' });
    const policy = response.headers.get('content-security-policy') ?? '';
    expect(policy).toMatch(/connect-src 'self';/);
    expect(policy).not.toMatch(/ws:/);
    const page = readFileSync(new URL('../../../renderer/index.html', import.meta.url), 'utf8');
    expect(/http-equiv="Content-Security-Policy"\s+content="([^"]*)"/.exec(page)?.[1]).toMatch(/connect-src 'self';/);
    expect(page).not.toMatch(/ws:\/\//);
  });

  it('parses origins instead of prefix-matching them', () => {
    expect(isAppUrl('app://adjoin/index.html')).toBe(true);
    expect(isAppUrl('app://adjoin.evil/index.html')).toBe(false);
    expect(isTrustedSender({ url: 'app://adjoin/', parent: null })).toBe(true);
  });
});
