import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * `adjoin serve` as a person starts it, on a free port, with a history and
 * a cache of its own (a temp folder, removed at the end) and the wasm
 * backend, so a test never touches the user's data and runs the same
 * everywhere.
 */

export const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const BIN = join(REPO, 'bin', 'adjoin.js');

export interface Served {
  /** The first link printed (its token admits one page). */
  url: string;
  /** A link no page has been handed yet: the server prints the next one each time a page uses one. */
  freshUrl(): Promise<string>;
  port: number;
  /** The temp ADJOIN_HOME (database, runs). */
  home: string;
  /** What the server wrote to stderr so far, for failure messages. */
  log(): string;
  stop(): Promise<void>;
}

/** Why the UI cannot be served from this checkout, or null. */
export function missingBuild(): string | null {
  if (!existsSync(join(REPO, 'build', 'main', 'cli.js'))) return 'build/ is missing: run npm run build';
  if (!existsSync(join(REPO, 'renderer', 'dist', 'index.html'))) return 'renderer/dist is missing: run npm run build';
  return null;
}

/** Every line the server prints on stdout, the first one awaited. */
function stdoutLines(child: ChildProcess, log: () => string, timeoutMs: number, onLine: (line: string) => void): Promise<string> {
  return new Promise((resolve, reject) => {
    let buffer = '';
    let first = true;
    const timer = setTimeout(() => reject(new Error(`adjoin serve printed nothing in ${timeoutMs} ms; stderr:\n${log()}`)), timeoutMs);
    child.stdout!.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        onLine(line);
        if (first) {
          first = false;
          clearTimeout(timer);
          resolve(line);
        }
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`adjoin serve exited (${code ?? signal}) before it listened; stderr:\n${log()}`));
    });
  });
}

/** More arguments and environment for `adjoin serve`, given the fresh ADJOIN_HOME. */
export type ServeExtras = (home: string) => { args?: string[]; env?: NodeJS.ProcessEnv };

/** `prepareHome` puts files in the fresh ADJOIN_HOME before the server starts (an existing history, say). */
export async function startServe(prepareHome?: (home: string) => void | Promise<void>, extras?: ServeExtras): Promise<Served> {
  const home = await mkdtemp(join(tmpdir(), 'adjoin-e2e-'));
  await prepareHome?.(home);
  const more = extras?.(home) ?? {};
  const env = { ...process.env, ADJOIN_HOME: home, ADJOIN_CACHE_DIR: join(home, 'cache'), ADJOIN_BACKEND: 'wasm', ...more.env };
  const args = [BIN, 'serve', '--port', '0', '--host', '127.0.0.1', '--json', ...(more.args ?? [])];
  const child = spawn(process.execPath, args, { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  const log = (): string => stderr;
  // Links in the order printed; `handed` of them were given to pages.
  const links: string[] = [];
  let handed = 0;
  let linkWaiter: (() => void) | null = null;
  let line: string;
  try {
    line = await stdoutLines(child, log, 30_000, (l) => {
      links.push((JSON.parse(l) as { url: string }).url);
      linkWaiter?.();
    });
  } catch (error) {
    child.kill('SIGKILL');
    await rm(home, { recursive: true, force: true });
    throw error;
  }
  const printed = JSON.parse(line) as { url: string; port: number; token: string };
  return {
    url: printed.url,
    freshUrl: async () => {
      // The link handed out before is used up once its page loaded; the server then prints the next.
      while (links.length <= handed) await new Promise<void>((resolve) => (linkWaiter = resolve));
      handed = links.length;
      return links[links.length - 1]!;
    },
    port: printed.port,
    home,
    log,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        // Ctrl-C: the server checkpoints running jobs and stops.
        child.kill('SIGINT');
        const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
        await exited;
        clearTimeout(timer);
      }
      await rm(home, { recursive: true, force: true });
    },
  };
}
