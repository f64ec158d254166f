import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCache, removeStaleTemps } from '../../../../main/engine/data/cache-file.js';
import { importImageFolder } from '../../../../main/engine/data/import-folder.js';
import { ADJOIN_BIN } from '../../../helpers/cli.js';
import { jpeg } from '../../../helpers/image-files.js';

/**
 * docs/RELIABILITY.md row 23 and the "no cache file is left half-written
 * after a kill": a real process is SIGKILLed while it decodes and while it
 * writes; whatever it leaves behind is never read as a dataset, and the
 * next import succeeds and clears the debris.
 */
const root = mkdtempSync(join(tmpdir(), 'adjoin-kill-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const dataset = join(root, 'photos');
beforeAll(async () => {
  for (const c of ['a', 'b']) for (let i = 0; i < 150; i++) await jpeg(join(dataset, c, `${i}.jpg`), 64, 48, [i, c === 'a' ? 0 : 200, 90]);
});

/**
 * Runs `adjoin data import --json` and SIGKILLs it — the command and the job
 * process that decodes and writes, as a power cut would — on the first
 * progress line `when` accepts. Resolves true if it was killed.
 */
function importUntil(cacheHome: string, when: (p: { phase: string; done: number }) => boolean): Promise<boolean> {
  return new Promise((resolveKilled, reject) => {
    const child = spawn(process.execPath, [ADJOIN_BIN, 'data', 'import', dataset, '--size', '16', '--json'], {
      env: { ...process.env, ADJOIN_CACHE_DIR: cacheHome },
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group, so one signal reaches the job process too.
      detached: true,
    });
    let killed = false;
    let jobGone: Promise<void> = Promise.resolve();
    createInterface({ input: child.stdout }).on('line', (line) => {
      const event = JSON.parse(line) as { type: string; phase: string; done: number };
      if (!killed && event.type === 'progress' && when(event)) {
        jobGone = groupGone(child.pid!);
        process.kill(-child.pid!, 'SIGKILL');
        killed = true;
      }
    });
    child.on('error', reject);
    child.on('exit', () => void jobGone.then(() => resolveKilled(killed)));
  });
}

/** Resolves when no process of the group is left (the job process may outlive its parent by a moment). */
function groupGone(pgid: number): Promise<void> {
  const alive = (): boolean =>
    readdirSync('/proc')
      .filter((d) => /^\d+$/.test(d))
      .some((pid) => {
        try {
          // The fields after the command's closing parenthesis: state, ppid, pgrp, …
          const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
          const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
          return Number(fields[2]) === pgid && fields[0] !== 'Z';
        } catch {
          return false;
        }
      });
  return new Promise((resolve) => {
    const check = (): void => void (alive() ? setImmediate(check) : resolve());
    check();
  });
}

/** Every finished cache file must read back whole; temporary files are the only other thing allowed. */
async function checkNoHalfWrittenCache(dir: string): Promise<{ finished: number; temps: number }> {
  const names = existsSync(dir) ? readdirSync(dir) : [];
  let finished = 0;
  for (const name of names) {
    if (name.endsWith('.adjds')) {
      const r = await readCache(dir, name.slice(0, -'.adjds'.length));
      expect(r.ok, `${name}: ${r.ok ? '' : r.reason}`).toBe(true);
      finished++;
    } else {
      expect(name).toMatch(/\.adjds\.\d+\.[0-9a-f]+\.tmp$/);
    }
  }
  return { finished, temps: names.length - finished };
}

describe('killing an import', () => {
  it.each([
    ['while decoding', (p: { phase: string; done: number }) => p.phase === 'decoding' && p.done > 0],
    ['while writing the cache', (p: { phase: string; done: number }) => p.phase === 'writing-cache'],
  ])('%s leaves no half-written cache, and the next import succeeds', async (_name, when) => {
    const home = mkdtempSync(join(root, 'cache-'));
    const cache = join(home, 'datasets');
    await importUntil(home, when);
    const left = await checkNoHalfWrittenCache(cache);
    const again = await importImageFolder(dataset, { cacheDir: cache, settings: { size: 16 } });
    expect(again.data.train.count + again.data.val.count).toBe(300);
    // Decoded afresh unless the killed process had already finished its file.
    expect(again.record.cache.hit).toBe(left.finished === 1);
    const after = await checkNoHalfWrittenCache(cache);
    expect(after).toEqual({ finished: 1, temps: 0 });
  });

  it('a writer killed mid-file leaves only a temporary file, which the next import removes', async () => {
    const cache = join(root, 'big-cache');
    // The built module (npm test builds first), so the child needs no TypeScript loader.
    const moduleUrl = new URL('../../../../build/main/engine/data/cache-file.js', import.meta.url).href;
    const script = join(root, 'writer.mjs');
    // 256 MB of pixels: long enough to be caught mid-write.
    writeFileSync(
      script,
      `import { writeCache } from ${JSON.stringify(moduleUrl)};
const count = 4096, size = 128, channels = 3;
const header = { version: 1, key: 'k'.repeat(32), name: 'big', root: '.', layout: 'class-folders', size, channels, resize: 'crop',
  maxPixels: 1e6, classes: [{ name: 'a', folder: 'a' }, { name: 'b', folder: 'b' }], folderSplit: null, count,
  files: Array.from({ length: count }, (_, i) => 'a/' + i), problems: [], createdAt: '' };
let told = false;
await writeCache(process.argv[2], { header, pixels: new Uint8Array(count * size * size * channels), labels: new Int32Array(count), inValFolder: new Uint8Array(count) },
  { onBytes: (done) => { if (!told && done > 1e6) { told = true; process.stdout.write('writing\\n'); } } });
process.stdout.write('done\\n');
`,
    );
    const outcome = await new Promise<string>((resolveOutcome, reject) => {
      const child = spawn(process.execPath, [script, cache], { stdio: ['ignore', 'pipe', 'inherit'] });
      let last = '';
      createInterface({ input: child.stdout }).on('line', (line) => {
        last = line;
        if (line === 'writing') child.kill('SIGKILL');
      });
      child.on('error', reject);
      child.on('exit', () => resolveOutcome(last));
    });
    expect(outcome).toBe('writing');
    const names = readdirSync(cache);
    expect(names.filter((n) => n.endsWith('.adjds'))).toEqual([]);
    expect(names.filter((n) => n.endsWith('.tmp'))).toHaveLength(1);
    expect(await removeStaleTemps(cache)).toBe(1);
    expect(readdirSync(cache)).toEqual([]);
  });
});
