import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cachePath, readCache, removeStaleTemps, writeCache, type CachedDataset } from '../../../../main/engine/data/cache-file.js';

const root = mkdtempSync(join(tmpdir(), 'adjoin-cache-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

let n = 0;
function sample(key = `${'0'.repeat(31)}${n++ % 10}`): CachedDataset {
  const count = 5;
  const size = 3;
  return {
    header: {
      version: 1,
      key,
      name: 'ds',
      root: '/data/ds',
      layout: 'class-folders',
      size,
      channels: 1,
      resize: 'crop',
      maxPixels: 1000,
      classes: [
        { name: 'a', folder: 'a' },
        { name: 'b', folder: 'b' },
      ],
      folderSplit: null,
      count,
      files: ['a/1.png', 'a/2.png', 'b/ä 1.png', 'b/2.png', 'b/3.png'],
      problems: [{ file: 'a/x.jpg', kind: 'truncated', severity: 'warning', message: 'skipped' }],
      createdAt: '2020-01-01T00:00:00Z',
    },
    pixels: Uint8Array.from({ length: count * size * size }, (_, i) => (i * 7) & 255),
    labels: Int32Array.from([0, 0, 1, 1, 1]),
    inValFolder: Uint8Array.from([0, 1, 0, 0, 1]),
  };
}

describe('dataset cache files', () => {
  it('round-trips header, pixels, labels and split flags', async () => {
    const dir = join(root, 'roundtrip');
    const d = sample();
    const bytes = await writeCache(dir, d);
    expect(readFileSync(cachePath(dir, d.header.key)).length).toBe(bytes);
    const r = await readCache(dir, d.header.key);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.dataset.header).toEqual(d.header);
    expect(r.dataset.pixels).toEqual(d.pixels);
    expect(r.dataset.labels).toEqual(d.labels);
    expect(r.dataset.inValFolder).toEqual(d.inValFolder);
    expect(readdirSync(dir)).toEqual([`${d.header.key}.adjds`]);
  });

  it('reports a missing file as missing', async () => {
    expect(await readCache(join(root, 'nowhere'), 'f'.repeat(32))).toMatchObject({ ok: false, missing: true });
  });

  it('detects every kind of damage', async () => {
    const dir = join(root, 'damage');
    const d = sample();
    await writeCache(dir, d);
    const path = cachePath(dir, d.header.key);
    const good = readFileSync(path);
    const damaged = (mutate: (b: Buffer) => Buffer): Promise<string> => {
      writeFileSync(path, mutate(Buffer.from(good)));
      return readCache(dir, d.header.key).then((r) => (r.ok ? 'ok' : r.reason));
    };
    const flip =
      (at: number) =>
      (b: Buffer): Buffer => ((b[at] = b[at]! ^ 1), b);
    expect(await damaged((b) => b)).toBe('ok');
    expect(await damaged(flip(0))).toMatch(/not an Adjoin dataset cache/);
    expect(await damaged(flip(good.length - 50))).toMatch(/checksum/); // a pixel or label
    expect(await damaged(flip(good.length - 1))).toMatch(/checksum/); // the hash itself
    expect(await damaged(flip(good.indexOf('ä') - 2))).toMatch(/checksum|JSON/); // a file name in the header
    expect(await damaged((b) => b.subarray(0, b.length - 10))).toMatch(/bytes, expected/);
    expect(await damaged((b) => b.subarray(0, 20))).toMatch(/too short|out of range/);
    expect(await damaged((b) => Buffer.concat([b, Buffer.from([0])]))).toMatch(/bytes, expected/);
    expect(await damaged(() => Buffer.alloc(0))).toMatch(/too short/);
  });

  it('refuses a file whose header names another key', async () => {
    const dir = join(root, 'renamed');
    const d = sample('a'.repeat(32));
    await writeCache(dir, d);
    writeFileSync(cachePath(dir, 'b'.repeat(32)), readFileSync(cachePath(dir, d.header.key)));
    expect(await readCache(dir, 'b'.repeat(32))).toMatchObject({ ok: false, reason: 'key does not match the file name' });
  });

  it('leaves nothing behind when the write is aborted', async () => {
    const dir = join(root, 'aborted');
    const controller = new AbortController();
    controller.abort();
    await expect(writeCache(dir, sample(), { signal: controller.signal })).rejects.toThrow();
    expect(readdirSync(dir)).toEqual([]);
  });

  it('removes temporary files of dead writers and old ones, never finished files or live writers', async () => {
    const dir = join(root, 'temps');
    const d = sample();
    await writeCache(dir, d);
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    const deadPid = Number(dead.stdout);
    const names = {
      dead: `${d.header.key}.adjds.${deadPid}.abcd1234.tmp`,
      live: `${d.header.key}.adjds.${process.pid}.abcd1234.tmp`,
      old: `${d.header.key}.adjds.${process.pid}.0000ffff.tmp`,
      other: 'notes.txt',
    };
    for (const name of Object.values(names)) writeFileSync(join(dir, name), 'x');
    const longAgo = new Date(Date.now() - 2 * 24 * 3600 * 1000);
    utimesSync(join(dir, names.old), longAgo, longAgo);
    expect(await removeStaleTemps(dir)).toBe(2);
    expect(readdirSync(dir).sort()).toEqual([`${d.header.key}.adjds`, names.live, names.other].sort());
  });
});
