import type { App, Session, WebContents } from 'electron';

/** The renderer is served from this origin by our own protocol handler, never from file:// or the network. */
export const APP_SCHEME = 'app';
export const APP_HOST = 'adjoin';
export const APP_ORIGIN = `${APP_SCHEME}://${APP_HOST}`;
export const APP_URL = `${APP_ORIGIN}/index.html`;

/**
 * Whether a URL is the app's own page. Parsed, not prefix-matched:
 * `app://adjoin.evil.test` or `app://adjoin@evil` must not pass
 * (docs/RELIABILITY.md row 3).
 */
export function isAppUrl(raw: string): boolean {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return false;
  }
  return url.protocol === `${APP_SCHEME}:` && url.host === APP_HOST && url.username === '' && url.password === '';
}

/**
 * Whether an IPC message comes from the app's own top-level page. The frame
 * may be null after a navigation (docs/RELIABILITY.md row 5): then it is refused.
 */
export function isTrustedSender(frame: { url: string; parent: unknown } | null): boolean {
  return frame !== null && frame.parent === null && isAppUrl(frame.url);
}

/** Permissions the renderer may be granted: none (camera, notifications, geolocation… all denied). */
export function allowPermission(_permission: string): boolean {
  return false;
}

/** Wires the checklist into every web contents the app creates, and denies every permission. */
export function hardenApp(app: App, session: Session): void {
  session.setPermissionRequestHandler((_contents, permission, callback) => callback(allowPermission(permission)));
  session.setPermissionCheckHandler((_contents, permission) => allowPermission(permission));
  app.on('web-contents-created', (_event, contents: WebContents) => {
    // No navigation away from the app, by link, script, redirect or a dropped URL.
    contents.on('will-navigate', (event, url) => {
      if (!isAppUrl(url)) event.preventDefault();
    });
    contents.on('will-redirect', (event, url) => {
      if (!isAppUrl(url)) event.preventDefault();
    });
    // No new windows, whatever the URL (window.open, target=_blank, javascript:, file:).
    contents.setWindowOpenHandler(() => ({ action: 'deny' }));
    contents.on('will-attach-webview', (event) => event.preventDefault());
  });
}
