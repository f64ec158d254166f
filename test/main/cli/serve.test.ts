import { spawn } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ADJOIN_BIN, runCli } from '../../helpers/cli.js';
import { tempDirs } from '../../helpers/store.js';

const temp = tempDirs('adjoin-serve-cli-');

describe('adjoin serve', () => {
  it.each([['0.0.0.0'], ['192.168.1.20'], ['example.com']])('refuses to listen beyond loopback (--host %s)', (host) => {
    const dir = temp();
    const r = runCli(['serve', '--host', host, '--db', join(dir, 'a.db')], { env: { ADJOIN_HOME: dir } });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--host must be a loopback address \(127\.0\.0\.1, localhost or ::1\)/);
  });

  it.runIf(process.platform === 'linux')('--open hands the address with its token to the system browser', async () => {
    const dir = temp();
    const opened = join(dir, 'opened.txt');
    // A stand-in xdg-open that records what it was asked to open.
    writeFileSync(join(dir, 'xdg-open'), `#!/bin/sh\necho "$1" > '${opened}'\n`);
    chmodSync(join(dir, 'xdg-open'), 0o755);
    const child = spawn(process.execPath, [ADJOIN_BIN, 'serve', '--port', '0', '--open', '--json', '--db', join(dir, 'a.db')], {
      env: { ...process.env, ADJOIN_HOME: dir, PATH: `${dir}:${process.env['PATH']}` },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      const line = await new Promise<string>((resolve) => child.stdout.once('data', (d: Buffer) => resolve(d.toString())));
      const { url, token } = JSON.parse(line) as { url: string; token: string };
      for (let i = 0; i < 100 && !existsSync(opened); i++) await new Promise((r) => setTimeout(r, 50));
      expect(readFileSync(opened, 'utf8').trim()).toBe(url);
      expect(url).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:\\d+/#token=${token}$`));
    } finally {
      child.kill('SIGINT');
      await new Promise((r) => child.once('exit', r));
    }
  });
});
