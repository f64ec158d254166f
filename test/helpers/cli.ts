import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ADJOIN_BIN = fileURLToPath(new URL('../../bin/adjoin.js', import.meta.url));

/** Tests never write to the real data folder: unless told otherwise, the CLI's is a temporary one. */
let home: string | null = null;
function testHome(): string {
  if (home === null) {
    const dir = mkdtempSync(join(tmpdir(), 'adjoin-home-'));
    home = dir;
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  }
  return home;
}

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the built `adjoin` command (npm test builds first). */
export function runCli(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeout?: number } = {}): CliResult {
  const r = spawnSync(process.execPath, [ADJOIN_BIN, ...args], {
    cwd: options.cwd,
    env: { ...process.env, ADJOIN_BACKEND: 'wasm', ADJOIN_HOME: testHome(), ...options.env },
    encoding: 'utf8',
    timeout: options.timeout ?? 120_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
