import type { Locator } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasChromium, type OpenedApp } from './helpers/browser.js';
import type { Served } from './helpers/serve.js';
import { closeServed, serveAndOpen } from './helpers/session.js';

/**
 * Issue 7, the app: on the Model step "Compare α values…" queues a sweep
 * (a tiny one here: standard and small at α 2, one seed, one epoch on 200
 * images), the Sweeps screen follows both runs to the end and fills its
 * table and plot; a longer sweep is cancelled and resumed.
 */
describe.skipIf(!hasChromium)('comparing α values (sweeps), end to end', () => {
  let served: Served;
  let app: OpenedApp;

  beforeAll(async () => {
    ({ served, app } = await serveAndOpen());
  });

  afterAll(async () => {
    await closeServed(app, served);
  });

  const compareButton = (): Locator => app.page.getByRole('button', { name: 'Compare α values…' });
  const dialog = (): Locator => app.page.getByRole('dialog', { name: 'Compare α values' });
  const cellState = (key: string): Promise<string | null> =>
    app.page.locator(`[data-testid="sweep-cells"] tr[data-cell-key="${key}"]`).getByTestId('status').textContent();
  const sweepStatus = (): Promise<string | null> => app.page.getByTestId('sweep-status').textContent();

  it('Model: Compare α values… waits for a dataset', async () => {
    const { page } = app;
    await expect.poll(() => page.getByRole('heading', { name: 'Dataset', level: 1 }).isVisible()).toBe(true);
    await page.keyboard.press('Alt+2');
    await expect.poll(() => compareButton().isDisabled()).toBe(true);
    expect(await page.locator('#compare-blocker').textContent()).toMatch(/Choose a dataset first/);
    await page.keyboard.press('Alt+1');
    await page.getByRole('button', { name: 'Use sample dataset' }).click();
    await page.getByTestId('scan-summary').waitFor({ timeout: 30_000 });
    await page.getByRole('button', { name: 'Next: Model →' }).click();
    await page.getByLabel('Channels').selectOption('1');
    await page.getByLabel('Width multiplier').fill('0.125');
    await expect.poll(() => compareButton().isEnabled()).toBe(true);
  });

  it('the dialog counts the runs, estimates what each configuration ships, and closes with Escape', async () => {
    const { page } = app;
    await compareButton().click();
    await dialog().waitFor();
    const count = page.getByTestId('sweep-run-count');
    // The defaults: standard, small and an at α 2 and 4, three seeds.
    await expect.poll(() => count.textContent()).toMatch(/^\s*15 runs/);
    const estimate = page.getByTestId('sweep-estimate');
    expect(await estimate.locator('tbody tr').count()).toBe(3);
    expect(await estimate.locator('tbody tr').nth(1).textContent()).toMatch(/α = 2\s*· small network \(small, an runs\).*MACs.*fewer/);
    await page.keyboard.press('Escape');
    await expect.poll(() => dialog().isVisible()).toBe(false);
    // Focus goes back to what opened the dialog.
    await expect.poll(() => compareButton().evaluate((el) => el === document.activeElement)).toBe(true);
  });

  it('kd without standard is refused, naming the modes; a tiny grid of two runs starts', async () => {
    const { page } = app;
    await compareButton().click();
    const d = dialog();
    await d.waitFor();
    const mode = (name: string): Locator => d.getByRole('checkbox', { name: new RegExp(`^${name} `) });
    await mode('standard').uncheck();
    await mode('an').uncheck();
    await mode('kd').check();
    await expect.poll(() => d.locator('#sweep-modes-note').getAttribute('class')).toMatch(/field-error/);
    await d.getByRole('button', { name: /^Start / }).click();
    await expect.poll(() => d.getByRole('alert').first().textContent()).toMatch(/add standard to the modes/);
    expect(await d.getByRole('group', { name: 'Modes' }).getAttribute('class')).toMatch(/invalid/);

    await mode('kd').uncheck();
    await mode('standard').check();
    await d.getByRole('checkbox', { name: 'α = 4' }).uncheck();
    await d.getByLabel('How many seeds').fill('1');
    await d.getByLabel('Epochs per run').fill('1');
    await d.getByRole('checkbox', { name: 'Use only the first' }).check();
    await d.getByLabel('Training images per run').fill('200');
    await expect.poll(() => page.getByTestId('sweep-run-count').textContent()).toMatch(/^\s*2 runs\s+1 standard · 1 small/);
    await app.screenshot('50-sweep-dialog');
    await d.getByRole('button', { name: 'Start 2 runs' }).click();
    await expect.poll(() => page.getByRole('heading', { name: 'Sweeps', level: 1 }).isVisible()).toBe(true);
    await expect.poll(() => dialog().isVisible()).toBe(false);
    // Focus moves to the new screen's heading, as with any change of screen.
    await expect.poll(() => page.evaluate(() => document.activeElement?.textContent)).toBe('Sweeps');
  });

  it('Sweeps: both runs finish; the table and the plot fill', async () => {
    const { page } = app;
    await page.getByTestId('sweep-view').waitFor();
    expect(await page.getByRole('heading', { name: 'Sweep #1' }).isVisible()).toBe(true);
    await expect.poll(() => cellState('standard-s0'), { timeout: 120_000 }).toMatch(/queued|running|finished/);
    await expect.poll(() => cellState('standard-s0'), { timeout: 180_000 }).toBe('finished');
    await expect.poll(() => cellState('small-a2-s0'), { timeout: 180_000 }).toBe('finished');
    await expect.poll(sweepStatus, { timeout: 30_000 }).toBe('finished');
    expect(await page.getByRole('progressbar', { name: '2 of 2 runs finished' }).getAttribute('aria-valuenow')).toBe('100');

    const stats = page.getByTestId('sweep-stats');
    await expect.poll(() => stats.locator('tbody tr[data-config-key]').count(), { timeout: 30_000 }).toBe(2);
    expect(await stats.locator('tr[data-config-key="standard"] td[data-col="full"]').textContent()).toMatch(/^\d+\.\d\d%$/);
    expect(await stats.locator('tr[data-config-key="small-a2"] td[data-col="small"]').textContent()).toMatch(/^\d+\.\d\d%$/);
    expect(await stats.locator('tr[data-config-key="small-a2"]').textContent()).toMatch(/MACs/);
    await expect
      .poll(() => page.getByRole('img', { name: /^What each configuration ships: top-1 accuracy vs MACs\. 2 models; Pareto front: / }).isVisible())
      .toBe(true);
    // The list agrees.
    expect(await page.locator('[data-testid="sweeps-table"] tr[data-sweep-id="1"]').textContent()).toMatch(/2\/2/);
    // The progress bar eases to its value.
    await page.waitForTimeout(400);
    await app.screenshot('51-sweep-finished');
    await stats.scrollIntoViewIfNeeded();
    await app.screenshot('51-sweep-finished-table');
  });

  it('a cell’s run opens in the existing run views', async () => {
    const { page } = app;
    const link = page.getByRole('button', { name: /^Open run \d+ \(small α=2 · seed 0\)$/ });
    const label = (await link.getAttribute('aria-label')) ?? '';
    const runId = /^Open run (\d+)/.exec(label)?.[1];
    await link.click();
    await expect.poll(() => page.getByTestId('results-title').textContent()).toBe(`Run #${runId}`);
    await page.keyboard.press('Alt+6');
    await expect.poll(() => page.getByRole('heading', { name: 'Sweeps', level: 1 }).isVisible()).toBe(true);
  });

  it('Cancel asks first and stops the sweep’s runs; Resume continues them', async () => {
    const { page } = app;
    await page.keyboard.press('Alt+2');
    await compareButton().click();
    const d = dialog();
    await d.waitFor();
    // The grid is as it was left; only the length changes, long enough not to end on its own.
    await expect.poll(() => page.getByTestId('sweep-run-count').textContent()).toMatch(/^\s*2 runs/);
    await d.getByLabel('Epochs per run').fill('40');
    await d.getByRole('button', { name: 'Start 2 runs' }).click();
    await expect.poll(() => page.getByRole('heading', { name: 'Sweep #2' }).isVisible(), { timeout: 30_000 }).toBe(true);
    await expect.poll(() => cellState('standard-s0'), { timeout: 120_000 }).toBe('running');

    const cancel = page.getByRole('button', { name: 'Cancel sweep', exact: true });
    await cancel.click();
    const confirm = page.getByRole('dialog', { name: 'Cancel sweep #2?' });
    await confirm.waitFor();
    await page.keyboard.press('Escape');
    await expect.poll(() => confirm.isVisible()).toBe(false);
    await expect.poll(() => cancel.evaluate((el) => el === document.activeElement)).toBe(true);
    expect(await sweepStatus()).toBe('running');

    await cancel.click();
    await confirm.getByRole('button', { name: 'Cancel sweep', exact: true }).click();
    await expect.poll(sweepStatus, { timeout: 60_000 }).toBe('cancelled');
    await expect.poll(() => cellState('standard-s0'), { timeout: 30_000 }).toBe('cancelled');
    await expect.poll(() => cellState('small-a2-s0'), { timeout: 30_000 }).toBe('cancelled');
    expect(await page.getByRole('button', { name: 'Cancel sweep', exact: true }).count()).toBe(0);
    await app.screenshot('52-sweep-cancelled');

    await page.getByRole('button', { name: 'Resume sweep' }).click();
    await expect.poll(sweepStatus, { timeout: 30_000 }).toBe('running');
    await expect.poll(() => cellState('standard-s0'), { timeout: 120_000 }).toBe('running');
    // Sweep #1 is untouched.
    expect(await page.locator('[data-testid="sweeps-table"] tr[data-sweep-id="1"]').getByTestId('status').textContent()).toBe('finished');
    await app.screenshot('53-sweep-resumed');

    await page.getByRole('button', { name: 'Cancel sweep', exact: true }).click();
    await page.getByRole('dialog', { name: 'Cancel sweep #2?' }).getByRole('button', { name: 'Cancel sweep', exact: true }).click();
    await expect.poll(sweepStatus, { timeout: 60_000 }).toBe('cancelled');
  });

  it('saw no console errors and no Content-Security-Policy violations', () => {
    expect(app.problems).toEqual([]);
  });
});
