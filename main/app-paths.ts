import { homedir } from 'node:os';
import { join } from 'node:path';

const PRODUCT = 'Adjoin';

/**
 * The folder where the desktop app keeps its database and runs — the same
 * one Electron's `app.getPath('userData')` gives for this product, so the
 * CLI, the browser shell and the app share one history. `ADJOIN_HOME`
 * overrides it (tests, portable installs).
 */
export function dataDir(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): string {
  const override = env['ADJOIN_HOME'];
  if (override !== undefined && override !== '') return override;
  switch (platform) {
    case 'darwin':
      return join(homedir(), 'Library', 'Application Support', PRODUCT);
    case 'win32':
      return join(env['APPDATA'] ?? join(homedir(), 'AppData', 'Roaming'), PRODUCT);
    default:
      return join(env['XDG_CONFIG_HOME'] ?? join(homedir(), '.config'), PRODUCT);
  }
}

/** Rebuildable data (decoded dataset caches): safe to delete, so kept apart from the history. */
export function cacheDir(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): string {
  const override = env['ADJOIN_CACHE_DIR'];
  if (override !== undefined && override !== '') return override;
  if (env['ADJOIN_HOME'] !== undefined && env['ADJOIN_HOME'] !== '') return join(env['ADJOIN_HOME'], 'cache');
  switch (platform) {
    case 'darwin':
      return join(homedir(), 'Library', 'Caches', PRODUCT);
    case 'win32':
      return join(env['LOCALAPPDATA'] ?? join(homedir(), 'AppData', 'Local'), PRODUCT, 'Cache');
    default:
      return join(env['XDG_CACHE_HOME'] ?? join(homedir(), '.cache'), 'adjoin');
  }
}

/** Where decoded datasets are cached (one file per folder content and import settings). */
export function datasetCacheDir(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): string {
  return join(cacheDir(env, platform), 'datasets');
}
