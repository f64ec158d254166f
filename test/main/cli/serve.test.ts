import { spawn } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ADJOIN_BIN, runCli } from '../../helpers/cli.js';
import { httpRequest } from '../../helpers/raw-http.js';
import { tempDirs } from '../../helpers/store.js';

const temp = tempDirs('adjoin-serve-cli-');

describe('adjoin serve', () => {
  it.each([['0.0.0.0'], ['192.168.1.20'], ['example.com']])('refuses to listen beyond loopback (--host %s)', (host) => {
    const dir = temp();
    const r = runCli(['serve', '--host', host, '--db', join(dir, 'a.db')], { env: { ADJOIN_HOME: dir } });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--host must be a loopback address \(127\.0\.0\.1, localhost or ::1\)/);
  });

  it.runIf(process.platform === 'linux')('--open hands the browser a private page, never the token on a command line; the token admits one page', async () => {
    const dir = temp();
    const opened = join(dir, 'opened.txt');
    // A stand-in xdg-open that records its command line and what the page it got says.
    writeFileSync(join(dir, 'xdg-open'), `#!/bin/sh\necho "$@" > '${opened}.args'\nstat -c %a "$1" > '${opened}.mode'\ncat "$1" > '${opened}'\n`);
    chmodSync(join(dir, 'xdg-open'), 0o755);
    const child = spawn(process.execPath, [ADJOIN_BIN, 'serve', '--port', '0', '--open', '--json', '--db', join(dir, 'a.db')], {
      env: { ...process.env, ADJOIN_HOME: dir, PATH: `${dir}:${process.env['PATH']}` },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const lines = jsonLines(child.stdout);
    try {
      const { url, token, port } = (await lines.next()) as { url: string; token: string; port: number };
      expect(url).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:\\d+/#token=${token}$`));
      // The stand-in runs detached: its files appear when it is done, announced by nothing but their presence.
      await until(() => existsSync(opened) && readFileSync(opened, 'utf8').includes('</html>'));
      const args = readFileSync(`${opened}.args`, 'utf8');
      expect(args).not.toContain(token);
      expect(args.trim()).toMatch(/open-adjoin\.html$/);
      expect(readFileSync(`${opened}.mode`, 'utf8').trim()).toBe('600');
      expect(readFileSync(opened, 'utf8')).toContain(`url=${url}`);

      // The page trades the token once; the server prints the next link; the used one admits nobody.
      const trade = (t: string): Promise<{ status: number }> =>
        httpRequest(port, '/session', { method: 'POST', headers: { Origin: `http://127.0.0.1:${port}`, 'X-Adjoin-Token': t } });
      expect((await trade(token)).status).toBe(200);
      const next = (await lines.next()) as { url: string; token: string };
      expect(next.token).not.toBe(token);
      expect(next.url).toMatch(new RegExp(`#token=${next.token}$`));
      expect((await trade(token)).status).toBe(401);
      // Once used, the page with the token is removed.
      await until(() => !existsSync(args.trim()));
    } finally {
      child.kill('SIGINT');
      await new Promise((r) => child.once('exit', r));
    }
  });
});

/** Each JSON line the stream prints, in order. */
function jsonLines(stream: NodeJS.ReadableStream): { next(): Promise<unknown> } {
  const ready: unknown[] = [];
  const waiting: Array<(v: unknown) => void> = [];
  let buffer = '';
  stream.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
      const value: unknown = JSON.parse(buffer.slice(0, nl));
      buffer = buffer.slice(nl + 1);
      const w = waiting.shift();
      if (w !== undefined) w(value);
      else ready.push(value);
    }
  });
  return { next: () => (ready.length > 0 ? Promise.resolve(ready.shift()) : new Promise((resolve) => waiting.push(resolve))) };
}

/** Waits for a condition outside this process that sends no event (a detached helper's files). */
async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((r) => setTimeout(r, 50));
}
