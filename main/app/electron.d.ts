/**
 * The part of Electron's API the app uses, declared here because the
 * `electron` package is an optional dependency: where its binary cannot be
 * downloaded npm drops it, types included, and the project must still
 * type-check. Kept to what main/app calls, following Electron 40's API.
 */
declare module 'electron' {
  import type { EventEmitter } from 'node:events';

  export interface WebPreferences {
    preload?: string;
    contextIsolation?: boolean;
    nodeIntegration?: boolean;
    nodeIntegrationInWorker?: boolean;
    nodeIntegrationInSubFrames?: boolean;
    sandbox?: boolean;
    webSecurity?: boolean;
    allowRunningInsecureContent?: boolean;
    experimentalFeatures?: boolean;
    webviewTag?: boolean;
    navigateOnDragDrop?: boolean;
    spellcheck?: boolean;
    devTools?: boolean;
    safeDialogs?: boolean;
    disableBlinkFeatures?: string;
  }

  export interface BrowserWindowConstructorOptions {
    width?: number;
    height?: number;
    minWidth?: number;
    minHeight?: number;
    title?: string;
    show?: boolean;
    backgroundColor?: string;
    autoHideMenuBar?: boolean;
    webPreferences?: WebPreferences;
  }

  export interface WebFrameMain {
    url: string;
    parent: WebFrameMain | null;
  }

  export interface HandlerDetails {
    url: string;
  }

  export interface WebContents extends EventEmitter {
    id: number;
    mainFrame: WebFrameMain;
    send(channel: string, ...args: unknown[]): void;
    setWindowOpenHandler(handler: (details: HandlerDetails) => { action: 'deny' } | { action: 'allow' }): void;
    executeJavaScript(code: string): Promise<unknown>;
    getURL(): string;
    isDestroyed(): boolean;
    on(event: 'will-navigate' | 'will-redirect', listener: (event: { preventDefault(): void; url: string }, url: string) => void): this;
    on(event: 'will-attach-webview', listener: (event: { preventDefault(): void }) => void): this;
    on(event: 'render-process-gone', listener: (event: unknown, details: { reason: string }) => void): this;
  }

  export class BrowserWindow extends EventEmitter {
    constructor(options?: BrowserWindowConstructorOptions);
    webContents: WebContents;
    loadURL(url: string): Promise<void>;
    show(): void;
    isDestroyed(): boolean;
    on(event: 'ready-to-show' | 'closed', listener: () => void): this;
    static getAllWindows(): BrowserWindow[];
  }

  export interface PermissionRequestHandler {
    (webContents: WebContents, permission: string, callback: (granted: boolean) => void): void;
  }

  export interface Session {
    setPermissionRequestHandler(handler: PermissionRequestHandler | null): void;
    setPermissionCheckHandler(handler: ((webContents: WebContents | null, permission: string) => boolean) | null): void;
    protocol: Protocol;
  }

  export const session: { defaultSession: Session };

  export interface CustomScheme {
    scheme: string;
    privileges?: { standard?: boolean; secure?: boolean; supportFetchAPI?: boolean; corsEnabled?: boolean; stream?: boolean };
  }

  export interface Protocol {
    registerSchemesAsPrivileged(schemes: CustomScheme[]): void;
    handle(scheme: string, handler: (request: Request) => Response | Promise<Response>): void;
  }

  export const protocol: Protocol;

  export interface IpcMainInvokeEvent {
    sender: WebContents;
    senderFrame: WebFrameMain | null;
  }

  export const ipcMain: {
    handle(channel: string, listener: (event: IpcMainInvokeEvent, ...args: unknown[]) => unknown): void;
    removeHandler(channel: string): void;
  };

  export interface App extends EventEmitter {
    whenReady(): Promise<void>;
    quit(): void;
    exit(code?: number): void;
    getPath(name: 'userData' | 'home' | 'temp'): string;
    setName(name: string): void;
    requestSingleInstanceLock(): boolean;
    isReady(): boolean;
    on(event: 'before-quit', listener: (event: { preventDefault(): void }) => void): this;
    on(event: 'window-all-closed' | 'activate' | 'second-instance', listener: () => void): this;
    on(event: 'web-contents-created', listener: (event: unknown, contents: WebContents) => void): this;
  }

  export const app: App;

  export interface MessageBoxOptions {
    type?: 'none' | 'info' | 'error' | 'question' | 'warning';
    buttons?: string[];
    defaultId?: number;
    cancelId?: number;
    title?: string;
    message: string;
    detail?: string;
  }

  export const dialog: {
    showOpenDialog(
      window: BrowserWindow,
      options: { title?: string; properties: Array<'openDirectory' | 'createDirectory' | 'dontAddToRecent'> },
    ): Promise<{ canceled: boolean; filePaths: string[] }>;
    showMessageBox(window: BrowserWindow, options: MessageBoxOptions): Promise<{ response: number }>;
    showErrorBox(title: string, content: string): void;
  };

  export const shell: {
    showItemInFolder(fullPath: string): void;
  };

  export interface UtilityProcess extends EventEmitter {
    pid: number | undefined;
    postMessage(message: unknown): void;
    kill(): boolean;
    on(event: 'message', listener: (message: unknown) => void): this;
    on(event: 'exit', listener: (code: number) => void): this;
  }

  export const utilityProcess: {
    fork(
      modulePath: string,
      args?: string[],
      options?: { env?: NodeJS.ProcessEnv; serviceName?: string; stdio?: 'inherit' | 'ignore' | 'pipe' },
    ): UtilityProcess;
  };

  export const net: {
    fetch(input: string, init?: { bypassCustomProtocolHandlers?: boolean }): Promise<Response>;
  };

  export const contextBridge: {
    exposeInMainWorld(key: string, api: unknown): void;
  };

  export interface IpcRendererEvent {
    senderId: number;
  }

  export const ipcRenderer: {
    invoke(channel: string, ...args: unknown[]): Promise<unknown>;
    on(channel: string, listener: (event: IpcRendererEvent, ...args: unknown[]) => void): void;
    removeListener(channel: string, listener: (event: IpcRendererEvent, ...args: unknown[]) => void): void;
  };

  export const webUtils: {
    getPathForFile(file: File): string;
  };
}
