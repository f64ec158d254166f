import type { ApiResult } from '../../../../shared/api.js';

/**
 * What the desktop app's preload exposes through contextBridge: two plain
 * functions, never ipcRenderer itself (docs/ARCHITECTURE.md, "Conventions").
 */
export interface AdjoinBridge {
  call(name: string, req: unknown): Promise<ApiResult<unknown>>;
  on(event: string, handler: (payload: unknown) => void): () => void;
  /** The file-system path of a dropped File (Electron's webUtils.getPathForFile); feature-detected. */
  pathForFile?: (file: File) => string;
}

declare global {
  interface Window {
    adjoin?: AdjoinBridge;
  }
}

/** The preload's bridge, when the page runs in the desktop app. */
export function desktopBridge(): AdjoinBridge | null {
  const b = typeof window === 'undefined' ? undefined : window.adjoin;
  return b !== undefined && typeof b.call === 'function' && typeof b.on === 'function' ? b : null;
}

/** The path of a dropped file or folder, where the shell can tell it (the desktop app). */
export function pathOfDroppedFile(file: File): string | null {
  const b = desktopBridge();
  if (b === null || typeof b.pathForFile !== 'function') return null;
  const path = b.pathForFile(file);
  return typeof path === 'string' && path !== '' ? path : null;
}
