import { BrowserWindow } from 'electron';
import { APP_URL } from './security.js';

/**
 * The app's one window, at a size where every screen is readable (1280×800),
 * with Electron's security checklist in its web preferences: isolated
 * context, no Node in the renderer, sandboxed, web security on, no webviews,
 * no middle-click windows, no navigation by dropping files, and only the
 * preload's bridge. Written out where the window is made, so reviewers and
 * Electronegativity see every setting.
 */
export async function createMainWindow(preload: string): Promise<BrowserWindow> {
  const window = new BrowserWindow({
    width: 1280,
    height: 800,
    minWidth: 1024,
    minHeight: 640,
    title: 'Adjoin',
    show: false,
    autoHideMenuBar: true,
    webPreferences: {
      preload,
      contextIsolation: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      sandbox: true,
      webSecurity: true,
      allowRunningInsecureContent: false,
      experimentalFeatures: false,
      webviewTag: false,
      navigateOnDragDrop: false,
      spellcheck: false,
      safeDialogs: true,
      disableBlinkFeatures: 'Auxclick',
    },
  });
  window.on('ready-to-show', () => window.show());
  await window.loadURL(APP_URL);
  return window;
}
