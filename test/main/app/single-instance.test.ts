import { describe, expect, it, vi } from 'vitest';

// The electron module as a second launch sees it: the single-instance lock is refused.
const calls = vi.hoisted(() => ({ quit: 0, whenReady: 0, listeners: [] as string[] }));

vi.mock('electron', () => ({
  app: {
    setName: () => undefined,
    requestSingleInstanceLock: () => false,
    quit: () => void calls.quit++,
    whenReady: () => {
      calls.whenReady++;
      return new Promise(() => undefined);
    },
    on: (event: string) => void calls.listeners.push(event),
    isReady: () => false,
    exit: () => undefined,
  },
  protocol: { registerSchemesAsPrivileged: () => undefined, handle: () => undefined },
  session: {},
  shell: {},
  dialog: {},
  ipcMain: { handle: () => undefined },
  BrowserWindow: class {},
  utilityProcess: { fork: () => undefined },
}));

describe('a second launch of the desktop app', () => {
  it('quits at once: it never waits for Electron to be ready, opens no services (no second writer of the history) and wires nothing', async () => {
    await import('../../../main/app/main.js');
    expect(calls.quit).toBe(1);
    expect(calls.whenReady).toBe(0);
    expect(calls.listeners).toEqual([]);
  });
});
