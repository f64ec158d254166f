import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasChromium, type OpenedApp } from './helpers/browser.js';
import type { Served } from './helpers/serve.js';
import { closeServed, serveAndOpen } from './helpers/session.js';

/**
 * Issue 15 in the app: DAN mode asks for a MACs budget on a slider over the
 * space's feasible range, the estimate table fits its card at 1280×800, and
 * a search shows its expected MACs against the budget, sharp distributions
 * and the projected choice.
 */
describe.skipIf(!hasChromium)('a DAN search under a budget (browser shell)', () => {
  let served: Served;
  let app: OpenedApp;

  beforeAll(async () => {
    ({ served, app } = await serveAndOpen());
  });

  afterAll(async () => {
    await closeServed(app, served);
  });

  it('Model: the DAN estimate table fits its card, and the budget slider shows MACs and “× fewer than full” side by side', async () => {
    const { page } = app;
    await page.getByRole('button', { name: 'Use sample dataset' }).click();
    await page.getByTestId('scan-summary').waitFor({ timeout: 30_000 });
    await page.getByRole('button', { name: 'Next: Model →' }).click();
    await page.getByLabel('Architecture').selectOption('resnet18');
    await page.getByLabel('Stem').selectOption('cifar');
    await page.getByLabel('Channels').selectOption('1');
    await page.getByLabel('Width multiplier').fill('0.125');
    await page.getByLabel(/Search widths \(DAN\)/).check();

    // The table's right edge stays inside the card's (it ran past it with four columns).
    const card = page.getByTestId('estimate');
    const table = card.locator('table');
    await table.waitFor();
    const edges = async (): Promise<{ card: number; table: number; cell: number }> => ({
      card: await card.evaluate((el) => el.getBoundingClientRect().right),
      table: await table.evaluate((el) => el.getBoundingClientRect().right),
      cell: await table.evaluate((el) => Math.max(...[...el.querySelectorAll('th, td')].map((c) => c.getBoundingClientRect().right))),
    });
    await expect.poll(async () => (await table.locator('thead th').allTextContents()).join('|')).toContain('Small, narrowest choice');
    const e = await edges();
    expect(e.table).toBeLessThanOrEqual(e.card);
    expect(e.cell).toBeLessThanOrEqual(e.card);

    // The budget: a slider over the feasible range, starting at the MACs of fixed α = 4.
    const slider = page.getByLabel('Budget: small-network MACs');
    const macs = page.getByTestId('budget-macs');
    const ratio = page.getByTestId('budget-ratio');
    await slider.waitFor();
    const [min, max] = [Number(await slider.getAttribute('min')), Number(await slider.getAttribute('max'))];
    expect(min).toBeGreaterThan(0);
    expect(max).toBeGreaterThan(min);
    expect(Number(await slider.inputValue())).toBeGreaterThan(min);
    expect(await ratio.textContent()).toMatch(/^\d+(\.\d)?× fewer than full$/);
    const start = await macs.textContent();
    await slider.fill(String(min));
    await expect.poll(() => macs.textContent()).not.toBe(start);
    await slider.fill(String(Math.round(min + 0.3 * (max - min))));
    expect(await macs.textContent()).toMatch(/MACs$/);
    await app.screenshot('dan-01-budget');
  });

  it('Train: the search shows E[MACs] against the budget, distributions that sharpen, and marks the projected choice', async () => {
    const { page } = app;
    await page.getByRole('button', { name: 'Next: Train →' }).click();
    await page.getByLabel('Epochs').fill('2');
    await page.getByLabel('Batch size').fill('64');
    await page.getByRole('button', { name: 'Start search' }).click();
    const found = page.getByTestId('dan-found');
    await found.waitFor({ timeout: 300_000 });
    expect(await found.textContent()).toMatch(/projected onto the budget/);
    expect(await found.textContent()).toMatch(/argmax η before the projection: .*MACs/);
    expect((await page.getByTestId('dan-budget-line').textContent())?.replace(/\s+/g, ' ')).toMatch(
      /Expected MACs .* against the budget .*MACs \(-?\d+\.\d %\)/,
    );
    await expect.poll(() => page.getByRole('img', { name: /Expected small-network MACs/ }).count()).toBeGreaterThan(0);
    // τ ends at 0.2: the latest distribution is not .20 everywhere, and one cell per group carries the projected mark.
    const heatmap = page.locator('figure', { hasText: 'Latest distribution softmax(η/τ) over α' });
    const texts = (await heatmap.locator('text').allTextContents()).map((t) => t.trim());
    expect(texts.filter((t) => /^◆?\.\d+$/.test(t)).some((t) => !/^◆?\.200?$/.test(t))).toBe(true);
    expect(texts.filter((t) => t.startsWith('◆')).length).toBeGreaterThan(0);
    await page.getByRole('heading', { name: 'Width search' }).scrollIntoViewIfNeeded();
    await app.screenshot('dan-02-search');
  });
});
