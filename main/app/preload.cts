// The renderer's only door to the app: a narrow API on window.adjoin, no raw
// ipcRenderer (docs/ARCHITECTURE.md, "Conventions"). Sandboxed preloads are CommonJS.
import type { IpcRendererEvent } from 'electron';
// eslint-disable-next-line @typescript-eslint/no-require-imports -- a sandboxed preload is CommonJS: require is how it imports
import electron = require('electron');

const { contextBridge, ipcRenderer, webUtils } = electron;

const API_CHANNEL = 'adjoin:api';
const EVENT_CHANNEL = 'adjoin:event';

contextBridge.exposeInMainWorld('adjoin', {
  call: (name: string, req: unknown): Promise<unknown> => ipcRenderer.invoke(API_CHANNEL, name, req),
  on: (event: string, handler: (payload: unknown) => void): (() => void) => {
    const listener = (_e: IpcRendererEvent, name: unknown, payload: unknown): void => {
      if (name === event) handler(payload);
    };
    ipcRenderer.on(EVENT_CHANNEL, listener as (e: IpcRendererEvent, ...args: unknown[]) => void);
    return () => ipcRenderer.removeListener(EVENT_CHANNEL, listener as (e: IpcRendererEvent, ...args: unknown[]) => void);
  },
  // File.path is gone (Electron 32); the main side re-checks what this gives.
  pathForFile: (file: File): string => webUtils.getPathForFile(file),
});
