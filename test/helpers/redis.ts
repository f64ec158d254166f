import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A real redis-server for the queue tests: on a free loopback port, in a
 * temporary folder, with its append-only file on (as the README asks of a
 * queue), started and stopped by the test. Where Debian's redis-server is
 * missing the tests skip with a message; CI installs it and sets
 * ADJOIN_REQUIRE_REDIS=1, which turns the skip into a failure.
 */
export const REDIS_SERVER = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).stdout.trim();
export const HAS_REDIS = REDIS_SERVER !== '';

if (!HAS_REDIS) {
  if (process.env['ADJOIN_REQUIRE_REDIS'] === '1')
    throw new Error('redis-server is required (ADJOIN_REQUIRE_REDIS=1) but not installed: apt-get install redis-server');
  console.warn('redis-server is not installed: the queue tests are skipped (apt-get install redis-server)');
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export interface RedisServer {
  port: number;
  /** `redis://[:password@]127.0.0.1:port/db`. */
  url(db?: number): string;
  /** Stops Redis as a service manager would (SIGTERM: it writes its append-only file) and starts it again on the same port and folder. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** Resolves once the server says it accepts connections; rejects if it exits first. */
function started(child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = '';
    const onData = (d: Buffer): void => {
      out += d.toString();
      if (out.includes('Ready to accept connections')) {
        child.stdout?.off('data', onData);
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`redis-server exited (${code}) before it was ready: ${out.slice(-500)}`)));
  });
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

export async function startRedis(o: { password?: string } = {}): Promise<RedisServer> {
  const dir = mkdtempSync(join(tmpdir(), 'adjoin-redis-'));
  const port = await freePort();
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--save', '', '--daemonize', 'no'];
  if (o.password !== undefined) args.push('--requirepass', o.password);
  const launch = async (): Promise<ChildProcess> => {
    const child = spawn(REDIS_SERVER, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    await started(child);
    // Keep draining its output so a full pipe never blocks it.
    child.stdout?.resume();
    return child;
  };
  let child = await launch();
  const auth = o.password === undefined ? '' : `:${encodeURIComponent(o.password)}@`;
  return {
    port,
    url: (db = 0) => `redis://${auth}127.0.0.1:${port}/${db}`,
    restart: async () => {
      const done = exited(child);
      child.kill('SIGTERM');
      await done;
      child = await launch();
    },
    stop: async () => {
      const done = exited(child);
      child.kill('SIGTERM');
      await done;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
