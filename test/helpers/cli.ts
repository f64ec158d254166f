import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const ADJOIN_BIN = fileURLToPath(new URL('../../bin/adjoin.js', import.meta.url));

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the built `adjoin` command (npm test builds first). */
export function runCli(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeout?: number } = {}): CliResult {
  const r = spawnSync(process.execPath, [ADJOIN_BIN, ...args], {
    cwd: options.cwd,
    env: { ...process.env, ADJOIN_BACKEND: 'wasm', ...options.env },
    encoding: 'utf8',
    timeout: options.timeout ?? 120_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
