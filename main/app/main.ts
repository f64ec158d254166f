import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { app, dialog, protocol, session, shell, type BrowserWindow } from 'electron';
import { InputError } from '../../shared/errors.js';
import { startServices, type Services } from '../api/services.js';
import { rendererDir } from '../package-root.js';
import { forwardEvents, serveApiOverIpc } from './ipc.js';
import { registerAppScheme, serveRenderer } from './protocol.js';
import { hardenApp } from './security.js';
import { utilityLauncher } from './utility-launcher.js';
import { createMainWindow } from './window.js';

/**
 * The desktop app: one window on the app:// protocol, the API over IPC, jobs
 * in utility processes. Quitting during a run asks first, then checkpoints
 * the runs and stops them cleanly.
 */
app.setName('Adjoin');
registerAppScheme(protocol);

let services: Services | null = null;
let mainWindow: BrowserWindow | null = null;
let quitting = false;

async function start(): Promise<void> {
  await app.whenReady();
  hardenApp(app, session.defaultSession);
  serveRenderer(protocol, rendererDir());
  services = startServices({
    database: join(app.getPath('userData'), 'adjoin.db'),
    shell: 'electron',
    launcher: utilityLauncher,
    native: {
      reveal: async (path) => {
        shell.showItemInFolder(path);
        return true;
      },
      chooseFolder: async (title) => {
        if (mainWindow === null) return null;
        const r = await dialog.showOpenDialog(mainWindow, { title, properties: ['openDirectory', 'dontAddToRecent'] });
        return r.canceled ? null : (r.filePaths[0] ?? null);
      },
    },
  });
  serveApiOverIpc(services.handlers);
  const preload = fileURLToPath(new URL('./preload.cjs', import.meta.url));
  mainWindow = await createMainWindow(preload);
  const unsubscribe = forwardEvents(mainWindow, (l) => services!.manager.subscribe(l));
  mainWindow.on('closed', () => {
    unsubscribe();
    mainWindow = null;
  });
  if (process.env['ADJOIN_ELECTRON_SMOKE'] === '1') {
    // The smoke test: report what the real Electron applied, then leave.
    // What the page itself can reach tells whether isolation and the sandbox held (docs/RELIABILITY.md row 1).
    const page = (await mainWindow.webContents.executeJavaScript(
      '({ require: typeof require, process: typeof process, bridge: Object.keys(window.adjoin ?? {}).sort() })',
    )) as unknown;
    process.stdout.write(`ADJOIN_SMOKE ${JSON.stringify({ page, url: mainWindow.webContents.getURL() })}\n`);
    quitting = true;
    await services.close();
    app.exit(0);
  }
}

/** Everything the one instance does: its window, its services, its orderly quit. */
function runInstance(): void {
  app.on('second-instance', () => mainWindow?.show());
  app.on('window-all-closed', () => app.quit());
  app.on('before-quit', (event) => {
    if (quitting || services === null) return;
    event.preventDefault();
    const running = services.manager.activeRuns().length;
    void (async () => {
      if (running > 0 && mainWindow !== null) {
        const { response } = await dialog.showMessageBox(mainWindow, {
          type: 'question',
          buttons: ['Checkpoint and quit', 'Keep training'],
          defaultId: 1,
          cancelId: 1,
          message: `${running} run${running === 1 ? ' is' : 's are'} still training.`,
          detail: 'Quitting saves a checkpoint after the current step; you can resume from History.',
        });
        if (response !== 0) return;
      }
      quitting = true;
      await services?.close();
      app.exit(0);
    })();
  });

  start().catch((e: unknown) => {
    // A history held by adjoin serve, say: one line a person can act on; anything else with its stack.
    const why = e instanceof InputError ? e.message : ((e as Error).stack ?? String(e));
    process.stderr.write(`Adjoin could not start: ${why}\n`);
    if (app.isReady()) dialog.showErrorBox('Adjoin could not start', e instanceof InputError ? e.message : String(e));
    app.exit(1);
  });
}

// A second launch hands over to the first (whose window comes forward) and
// starts nothing itself: no services, no second writer of the history.
if (app.requestSingleInstanceLock()) runInstance();
else app.quit();
