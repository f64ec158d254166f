import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { damageIndex, historyWithRuns } from '../helpers/store.js';
import { hasChromium, type OpenedApp } from './helpers/browser.js';
import type { Served } from './helpers/serve.js';
import { closeServed, serveAndOpen } from './helpers/session.js';

/** A history that is damaged when the app starts: the runs stay listed, a banner says what to do, nothing can be written. */
describe.skipIf(!hasChromium)('a damaged history', () => {
  let served: Served;
  let app: OpenedApp;

  beforeAll(async () => {
    ({ served, app } = await serveAndOpen((home) => {
      const file = join(home, 'adjoin.db');
      historyWithRuns(file, 40, 'cancelled');
      // The index of runs by dataset: damaged for every check, while the runs themselves still read.
      damageIndex(file, 'runs_dataset');
    }));
  });

  afterAll(async () => {
    await closeServed(app, served);
  });

  it('opens read-only with a banner naming the file and the way back', async () => {
    const banner = app.page.getByRole('alert').filter({ hasText: 'The history database is damaged' });
    await banner.waitFor({ timeout: 30_000 });
    const text = (await banner.textContent()) ?? '';
    expect(text).toContain(join(served.home, 'adjoin.db'));
    expect(text).toMatch(/read-only/);
    expect(text).toMatch(/adjoin db (restore|check)/);
    await app.screenshot('30-damaged-history');
  });

  it('lists the runs it holds', async () => {
    const { page } = app;
    await page
      .getByRole('navigation', { name: 'Screens' })
      .getByRole('button', { name: /History/ })
      .click();
    await page.locator('tr[data-run-id="40"]').waitFor({ timeout: 30_000 });
    expect(await page.locator('tr[data-run-id]').count()).toBeGreaterThan(0);
  });

  it('refuses to start a run, saying why', async () => {
    const { page } = app;
    await page
      .getByRole('navigation', { name: 'Screens' })
      .getByRole('button', { name: /Dataset/ })
      .click();
    await page.getByRole('button', { name: 'Use sample dataset' }).click();
    await page.getByTestId('scan-summary').waitFor({ timeout: 30_000 });
    await page.getByRole('button', { name: 'Next: Model →' }).click();
    await page.getByRole('button', { name: 'Next: Train →' }).click();
    await page.getByRole('button', { name: 'Start training' }).click();
    const refusal = page.getByRole('alert').filter({ hasText: /cannot start a run/ });
    await refusal.waitFor({ timeout: 30_000 });
    expect(await refusal.textContent()).toMatch(/cannot start a run: the history database .* is damaged/);
    await app.screenshot('31-damaged-history-refused');
  });
});
