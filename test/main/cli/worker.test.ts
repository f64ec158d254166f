import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../helpers/cli.js';
import { HAS_REDIS, startRedis, type RedisServer } from '../../helpers/redis.js';
import { tempDirs } from '../../helpers/store.js';

const tempDir = tempDirs('adjoin-worker-cli-');
const TRAIN = ['train', '--data', 'synthetic:classes=3,size=12,train=48,val=24', '--width', '0.125', '--epochs', '1', '--batch', '16'];

describe('adjoin worker and --queue: bad input is one clear line and exit code 2', () => {
  it.each([
    [['worker'], /--queue is required/],
    [['worker', '--queue', 'http://127.0.0.1:6379'], /a queue is a redis:\/\/ or rediss:\/\/ URL, not http:\/\//],
    [['worker', '--queue', 'redis://127.0.0.1:99999'], /port must be from 1 to 65535/],
    [['worker', '--queue', 'redis://127.0.0.1', '--concurrency', '0'], /--concurrency must be from 1/],
    [['worker', '--queue', 'redis://127.0.0.1', '--name', 'a b'], /--name must be letters/],
    [[...TRAIN, '--queue', 'redis://127.0.0.1', '--workers', '2'], /--workers applies to runs on this machine/],
    [[...TRAIN, '--checkpoint-limit', '10'], /--checkpoint-limit applies to runs on a queue/],
    [['sweep', '--data', 'synthetic', '--queue', 'redis://127.0.0.1', '--parallel', '2'], /--parallel applies to sweeps on this machine/],
  ])('%j', (args, message) => {
    const dir = tempDir();
    const r = runCli([...(args as string[]), ...(args[0] === 'worker' ? [] : ['--db', join(dir, 'a.db')])], { env: { ADJOIN_HOME: dir } });
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(message as RegExp);
    expect(existsSync(join(dir, 'a.db'))).toBe(false);
  });
});

describe.skipIf(!HAS_REDIS)('a queue that refuses the password (a real redis-server with requirepass)', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedis({ password: 'sesame' });
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it('a wrong password is a clear error, naming the queue but never the password (docs/RELIABILITY.md row 48)', () => {
    const dir = tempDir();
    const wrong = `redis://:open-sesame@127.0.0.1:${redis.port}`;
    for (const args of [
      ['worker', '--queue', wrong],
      [...TRAIN, '--queue', wrong, '--db', join(dir, 'a.db')],
      ['sweep', '--data', 'synthetic', '--modes', 'an', '--alpha', '2', '--seeds', '0', '--queue', wrong, '--db', join(dir, 'a.db')],
    ]) {
      const r = runCli(args, { env: { ADJOIN_HOME: dir } });
      expect(r.status, r.stderr).toBe(2);
      expect(r.stderr).toBe(
        `adjoin: error: redis://:***@127.0.0.1:${redis.port} refused the user name or password (WRONGPASS): check the password in the queue URL\n`,
      );
    }
    expect(existsSync(join(dir, 'a.db'))).toBe(false);
    const none = runCli(['worker', '--queue', `redis://127.0.0.1:${redis.port}`], { env: { ADJOIN_HOME: dir } });
    expect(none.status).toBe(2);
    expect(none.stderr).toMatch(/needs a password: put it in the queue URL/);
  });

  it('a queue where nothing listens is named', async () => {
    const gone = await startRedis();
    const port = gone.port;
    await gone.stop();
    const r = runCli(['worker', '--queue', `redis://127.0.0.1:${port}`], { env: { ADJOIN_HOME: tempDir() } });
    expect(r.status).toBe(2);
    expect(r.stderr).toBe(`adjoin: error: nothing is listening at 127.0.0.1:${port} (is redis-server running there?)\n`);
  });
});
