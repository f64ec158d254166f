import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { tempDirs } from '../../helpers/store.js';

const AUDIT = fileURLToPath(new URL('../../../build/scripts/electron-audit.js', import.meta.url));
const REPO = fileURLToPath(new URL('../../..', import.meta.url));
const temp = tempDirs('adjoin-audit-test-');

const audit = (root: string): { status: number | null; stdout: string } => {
  const r = spawnSync(process.execPath, [AUDIT, root], { encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stdout: r.stdout };
};

describe('the Electron security gate', () => {
  it('passes this app', () => {
    const r = audit(REPO);
    expect(r.stdout).toMatch(/0 not allowed/);
    expect(r.status).toBe(0);
  }, 120_000);

  it('fails an app that turns off context isolation and has no CSP, naming the file', () => {
    const root = temp();
    mkdirSync(join(root, 'main', 'app'), { recursive: true });
    mkdirSync(join(root, 'renderer'));
    writeFileSync(join(root, 'package.json'), JSON.stringify({ optionalDependencies: { electron: '40.8.5' } }));
    writeFileSync(
      join(root, 'main', 'app', 'window.ts'),
      "import { BrowserWindow } from 'electron';\nexport const w = new BrowserWindow({ webPreferences: { nodeIntegration: true, contextIsolation: false } });\n",
    );
    writeFileSync(join(root, 'renderer', 'index.html'), '<!doctype html><title>x</title>');
    const r = audit(root);
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/FAIL {2}CONTEXT_ISOLATION_JS_CHECK .* main\/app\/window\.ts/);
    expect(r.stdout).toMatch(/FAIL {2}CSP_GLOBAL_CHECK/);
  }, 120_000);
});
