import { type OpenedApp, openApp } from './browser.js';
import { missingBuild, type ServeExtras, type Served, startServe } from './serve.js';

/** `adjoin serve` on a fresh home (prepared by `prepareHome` if given), opened in Chromium; fails with the reason if the build is missing. */
export async function serveAndOpen(prepareHome?: (home: string) => void | Promise<void>, extras?: ServeExtras): Promise<{ served: Served; app: OpenedApp }> {
  const missing = missingBuild();
  if (missing !== null) throw new Error(missing);
  const served = await startServe(prepareHome, extras);
  try {
    return { served, app: await openApp(await served.freshUrl()) };
  } catch (e) {
    await served.stop();
    throw e;
  }
}

/** Closes the browser and stops the server, whichever of them started. */
export async function closeServed(app: OpenedApp | undefined, served: Served | undefined): Promise<void> {
  await app?.close();
  await served?.stop();
}
