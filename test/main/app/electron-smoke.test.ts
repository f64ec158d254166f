import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const require = createRequire(import.meta.url);
const root = fileURLToPath(new URL('../../..', import.meta.url));

function electronBinary(): string | null {
  try {
    const path = require('electron') as unknown;
    return typeof path === 'string' && existsSync(path) ? path : null;
  } catch {
    return null;
  }
}

const electron = electronBinary();
const display = process.env['DISPLAY'] !== undefined || existsSync('/usr/bin/xvfb-run');
const reason =
  electron === null
    ? 'skipped: the Electron binary is not installed (an optional dependency whose download needs network at install time)'
    : 'skipped: no display and no xvfb-run to give Electron one';

describe('the real desktop app', () => {
  it.skipIf(electron === null || !display)(
    `starts, opens its window with the security settings applied, and quits ${electron === null || !display ? `(${reason})` : ''}`,
    () => {
      const home = mkdtempSync(join(tmpdir(), 'adjoin-electron-'));
      const env = { ...process.env, ADJOIN_ELECTRON_SMOKE: '1', ADJOIN_HOME: home, ADJOIN_CACHE_DIR: join(home, 'cache') };
      const cmd = process.env['DISPLAY'] !== undefined ? electron! : '/usr/bin/xvfb-run';
      const args = process.env['DISPLAY'] !== undefined ? [root] : ['-a', electron!, root];
      const r = spawnSync(cmd, args, { env, encoding: 'utf8', timeout: 90_000 });
      const line = r.stdout.split('\n').find((l) => l.startsWith('ADJOIN_SMOKE '));
      expect(line, r.stderr).toBeDefined();
      const report = JSON.parse(line!.slice('ADJOIN_SMOKE '.length)) as { page: Record<string, unknown>; url: string };
      // The page has no Node (sandboxed, isolated) and sees only the preload's three functions.
      expect(report.page).toEqual({ require: 'undefined', process: 'undefined', bridge: ['call', 'on', 'pathForFile'] });
      expect(report.url).toBe('app://adjoin/index.html');
    },
  );
});
