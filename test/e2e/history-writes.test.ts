import Database from 'better-sqlite3';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tryMountTmpfs, unmount } from '../helpers/mount.js';
import { hasChromium, type OpenedApp } from './helpers/browser.js';
import type { Served } from './helpers/serve.js';
import { closeServed, serveAndOpen } from './helpers/session.js';

/**
 * The history's disk fills up while a run trains: the page says so in a
 * banner (the run goes on), and the banner goes once space is freed, with
 * the run recorded as finished.
 */
const mnt = mkdtempSync(join(tmpdir(), 'adjoin-e2e-history-'));
const mounted = hasChromium && tryMountTmpfs(mnt, 'size=4m');
if (hasChromium && !mounted) console.warn('history-writes e2e test skipped: this process may not mount a tmpfs (root with CAP_SYS_ADMIN)');

describe.skipIf(!mounted)('a full history disk, in the browser', () => {
  let served: Served;
  let app: OpenedApp;
  const database = join(mnt, 'adjoin.db');
  const release = join(mnt, '..', `${mnt.split('/').pop()}-release`);

  beforeAll(async () => {
    ({ served, app } = await serveAndOpen(
      (home) => {
        // Only the history is on the small disk; the run's folder is on another.
        mkdirSync(join(home, 'runs'));
        symlinkSync(join(home, 'runs'), join(mnt, 'runs'));
      },
      () => ({ args: ['--db', database], env: { ADJOIN_TEST_HOOKS: '1', ADJOIN_TEST_HOLD_AT_STEP: '2', ADJOIN_TEST_RELEASE_FILE: release } }),
    ));
  });

  afterAll(async () => {
    writeFileSync(release, '');
    await closeServed(app, served);
    unmount(mnt);
    rmSync(mnt, { recursive: true, force: true });
    rmSync(release, { force: true });
  });

  it('shows a banner while the history refuses writes, and the run is recorded once space is freed', async () => {
    const { page } = app;
    await page.getByRole('button', { name: 'Use sample dataset' }).click();
    await page.getByTestId('scan-summary').waitFor({ timeout: 30_000 });
    await page.getByRole('button', { name: 'Next: Model →' }).click();
    await page.getByLabel('Width multiplier').fill('0.0625');
    await page.getByRole('button', { name: 'Next: Train →' }).click();
    await page.getByLabel('Epochs').fill('1');
    await page.getByRole('button', { name: 'Start training' }).click();
    const progress = page.getByRole('progressbar', { name: /^Training: epoch/ });
    await expect.poll(async () => Number((await progress.getAttribute('aria-valuenow')) ?? 0), { timeout: 60_000 }).toBeGreaterThan(0);

    // The WAL emptied, then the disk filled: the run's next write needs space there is not.
    const db = new Database(database);
    db.pragma('wal_checkpoint(TRUNCATE)');
    db.close();
    const filler = join(mnt, 'filler');
    const fd = openSync(filler, 'w');
    for (const size of [1 << 16, 4096, 1]) {
      const chunk = Buffer.alloc(size, 1);
      for (;;) {
        try {
          writeSync(fd, chunk);
        } catch {
          break;
        }
      }
    }
    closeSync(fd);
    writeFileSync(release, '');

    const banner = page.getByTestId('history-writes-banner');
    await banner.waitFor({ timeout: 60_000 });
    expect(await banner.textContent()).toMatch(/Adjoin cannot write to its history \(the disk is full.*Training goes on.*Free some space on its disk/s);
    await app.screenshot('20-history-disk-full');

    rmSync(filler);
    await banner.waitFor({ state: 'detached', timeout: 60_000 });
    const status = page.getByTestId('monitor').getByTestId('status');
    await expect.poll(() => status.textContent(), { timeout: 60_000 }).toBe('finished');
    expect(app.problems).toEqual([]);
  });
});
