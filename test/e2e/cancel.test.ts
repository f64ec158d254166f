import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasChromium, type OpenedApp } from './helpers/browser.js';
import type { Served } from './helpers/serve.js';
import { closeServed, serveAndOpen } from './helpers/session.js';

/** A run cancelled from the monitor is marked cancelled in History, resumes from there, and is deleted. */
describe.skipIf(!hasChromium)('cancelling a run', () => {
  let served: Served;
  let app: OpenedApp;

  beforeAll(async () => {
    ({ served, app } = await serveAndOpen());
  });

  afterAll(async () => {
    await closeServed(app, served);
  });

  it('Cancel stops a long run after its current step', async () => {
    const { page } = app;
    await page.getByRole('button', { name: 'Use sample dataset' }).click();
    await page.getByTestId('scan-summary').waitFor({ timeout: 30_000 });
    await page.getByRole('button', { name: 'Next: Model →' }).click();
    await page.getByLabel('Width multiplier').fill('0.0625');
    await page.getByRole('button', { name: 'Next: Train →' }).click();
    // Long enough that it cannot finish on its own during the test.
    await page.getByLabel('Epochs').fill('50');
    await page.getByRole('button', { name: 'Start training' }).click();
    const progress = page.getByRole('progressbar', { name: /^Training: epoch/ });
    await expect.poll(async () => Number((await progress.getAttribute('aria-valuenow')) ?? 0), { timeout: 60_000 }).toBeGreaterThan(0);
    await page.getByRole('button', { name: 'Cancel run' }).click();
    const status = page.getByTestId('monitor').getByTestId('status');
    await expect.poll(() => status.textContent(), { timeout: 60_000 }).toBe('cancelled');
    expect(await page.getByRole('button', { name: 'Cancel run' }).count()).toBe(0);
    await app.screenshot('10-train-cancelled');
  });

  it('History marks it cancelled and offers Resume', async () => {
    const { page } = app;
    await page
      .getByRole('navigation', { name: 'Screens' })
      .getByRole('button', { name: /History/ })
      .click();
    const row = page.locator('tr[data-run-id="1"]');
    await expect.poll(() => row.getByTestId('status').textContent(), { timeout: 30_000 }).toBe('cancelled');
    await expect.poll(() => row.getByRole('button', { name: 'Resume run 1' }).isVisible()).toBe(true);
    await app.screenshot('11-history-cancelled');
  });

  it('Resume continues it in the Train monitor; cancelling again stops it again', async () => {
    const { page } = app;
    await page.getByRole('button', { name: 'Resume run 1' }).click();
    await expect.poll(() => page.getByRole('heading', { name: 'Train', level: 1 }).isVisible()).toBe(true);
    const status = page.getByTestId('monitor').getByTestId('status');
    await expect.poll(() => status.textContent(), { timeout: 60_000 }).toBe('running');
    await expect.poll(() => page.getByRole('progressbar', { name: /^Training: epoch/ }).isVisible(), { timeout: 60_000 }).toBe(true);
    await app.screenshot('13-train-resumed');
    await page.getByRole('button', { name: 'Cancel run' }).click();
    await expect.poll(() => status.textContent(), { timeout: 60_000 }).toBe('cancelled');
    await page.keyboard.press('Alt+5');
    await expect.poll(() => page.locator('tr[data-run-id="1"]').getByTestId('status').textContent(), { timeout: 30_000 }).toBe('cancelled');
  });

  it('Delete asks first; Escape keeps the run, confirming deletes it', async () => {
    const { page } = app;
    const row = page.locator('tr[data-run-id="1"]');
    const del = row.getByRole('button', { name: 'Delete run 1' });
    await del.click();
    const dialog = page.getByRole('dialog', { name: 'Delete run #1?' });
    await dialog.waitFor();
    await app.screenshot('12-history-delete-dialog');
    await page.keyboard.press('Escape');
    await expect.poll(() => dialog.isVisible()).toBe(false);
    // Focus goes back to what opened the dialog.
    await expect.poll(() => del.evaluate((el) => el === document.activeElement)).toBe(true);
    expect(await row.count()).toBe(1);
    await del.click();
    await dialog.getByRole('button', { name: 'Delete' }).click();
    await expect.poll(() => row.count(), { timeout: 30_000 }).toBe(0);
  });

  it('saw no console errors and no Content-Security-Policy violations', () => {
    expect(app.problems).toEqual([]);
  });
});
