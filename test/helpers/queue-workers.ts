import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../main/package-root.js';

/** The `adjoin` command (this file also runs compiled, from build/, in `npm run bench -- queue`). */
const ADJOIN_BIN = join(packageRoot(), 'bin', 'adjoin.js');

/** An `adjoin worker` process started by a test. */
export interface WorkerProcess {
  name: string;
  child: ChildProcess;
  /** Everything it wrote to stderr so far. */
  output(): string;
  /** Resolves once its output has a line matching `pattern`. */
  said(pattern: RegExp): Promise<void>;
  /** Ctrl-C: it hands its runs back and exits. */
  interrupt(): Promise<number | null>;
  /** kill -9: a power cut, as far as the queue can tell. */
  kill9(): Promise<void>;
}

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

/**
 * Starts `adjoin worker` on `url` as a separate process (the built CLI), with
 * its own data folder and cache, one engine, and a short lock so a killed
 * worker's run is taken over soon; resolves once it is taking runs.
 */
export async function startWorker(url: string, name: string, o: { env?: NodeJS.ProcessEnv; lockSeconds?: number } = {}): Promise<WorkerProcess> {
  const home = mkdtempSync(join(tmpdir(), `adjoin-worker-${name}-`));
  const child = spawn(
    process.execPath,
    [ADJOIN_BIN, 'worker', '--queue', url, '--name', name, '--lock-seconds', String(o.lockSeconds ?? 5), '--work-dir', join(home, 'runs')],
    {
      env: { ...process.env, ADJOIN_HOME: home, ADJOIN_CACHE_DIR: join(home, 'cache'), ADJOIN_BACKEND: 'wasm', ADJOIN_TRAIN_WORKERS: '1', ...o.env },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  live.add(child);
  let out = '';
  const waiters: Array<{ pattern: RegExp; resolve: () => void }> = [];
  child.stderr?.on('data', (d: Buffer) => {
    out += d.toString();
    for (const w of [...waiters]) {
      if (w.pattern.test(out)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  });
  const exit = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      live.delete(child);
      resolve(code);
    }),
  );
  const said = (pattern: RegExp): Promise<void> =>
    pattern.test(out)
      ? Promise.resolve()
      : Promise.race([
          new Promise<void>((resolve) => waiters.push({ pattern, resolve })),
          exit.then((code) => {
            throw new Error(`worker ${name} exited (${code}) before saying ${pattern}: ${out}`);
          }),
        ]);
  await said(new RegExp(`worker ${name} on .*taking runs from`));
  return {
    name,
    child,
    output: () => out,
    said,
    interrupt: () => {
      child.kill('SIGINT');
      return exit;
    },
    kill9: async () => {
      child.kill('SIGKILL');
      await exit;
    },
  };
}
