import type { BrowserWindow, IpcMainInvokeEvent } from 'electron';
import { ipcMain } from 'electron';
import type { ApiResult } from '../../shared/api.js';
import { dispatch } from '../api/dispatch.js';
import type { ApiHandlers } from '../api/handlers.js';
import type { ManagerEvent } from '../jobs/host/manager.js';
import { toApiEvent } from '../api/events.js';
import { isTrustedSender } from './security.js';

export const API_CHANNEL = 'adjoin:api';
export const EVENT_CHANNEL = 'adjoin:event';

/**
 * The API over IPC: one channel, every sender checked (the app's own
 * top-level page only), every argument validated against the contract by
 * `dispatch`, errors returned as data.
 */
export function serveApiOverIpc(handlers: ApiHandlers): void {
  ipcMain.handle(API_CHANNEL, async (event: IpcMainInvokeEvent, name: unknown, req: unknown): Promise<ApiResult<unknown>> => {
    if (!isTrustedSender(event.senderFrame)) {
      return { ok: false, error: { name: 'ApiError', code: 'untrusted-sender', message: 'this page may not use the Adjoin API' } };
    }
    return dispatch(handlers, name, req);
  });
}

/** Forwards the manager's events to the window. */
export function forwardEvents(window: BrowserWindow, subscribe: (l: (e: ManagerEvent) => void) => () => void): () => void {
  return subscribe((e) => {
    if (window.isDestroyed() || window.webContents.isDestroyed()) return;
    const { event, payload } = toApiEvent(e);
    window.webContents.send(EVENT_CHANNEL, event, payload);
  });
}
