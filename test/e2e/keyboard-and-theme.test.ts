import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasChromium, type OpenedApp, openApp } from './helpers/browser.js';
import { missingBuild, type Served, startServe } from './helpers/serve.js';

/** Tab reaches the controls, Enter and the arrow keys work them, Alt+digit moves between screens; dark theme follows the OS. */
describe.skipIf(!hasChromium)('keyboard and theme', () => {
  let served: Served;

  beforeAll(async () => {
    const missing = missingBuild();
    if (missing !== null) throw new Error(missing);
    served = await startServe();
  });

  afterAll(async () => {
    await served?.stop();
  });

  /** Presses Tab until the focused element passes `wanted` (run in the page), or fails after `max` presses. */
  async function tabTo(app: OpenedApp, wanted: (el: Element | null) => boolean, max = 40): Promise<void> {
    for (let i = 0; i < max; i++) {
      await app.page.keyboard.press('Tab');
      const focused = await app.page.evaluateHandle(() => document.activeElement);
      if (await focused.evaluate(wanted)) return;
    }
    throw new Error(`Tab did not reach the control in ${max} presses`);
  }

  describe('keyboard', () => {
    let app: OpenedApp;
    beforeAll(async () => {
      app = await openApp(await served.freshUrl());
    });
    afterAll(async () => {
      await app?.close();
    });

    it('Tab reaches “Use sample dataset”, Enter scans it, and the focus ring shows', async () => {
      const { page } = app;
      await tabTo(app, (el) => el?.textContent?.trim() === 'Use sample dataset');
      const outline = await page.evaluate(() => getComputedStyle(document.activeElement!).outlineStyle);
      expect(outline).not.toBe('none');
      await page.keyboard.press('Enter');
      await page.getByTestId('scan-summary').waitFor({ timeout: 30_000 });
      await app.screenshot('30-keyboard-dataset');
    });

    it('Alt+2 opens Model with focus on its heading; the α slider moves with the arrow keys', async () => {
      const { page } = app;
      await page.keyboard.press('Alt+2');
      await expect.poll(() => page.evaluate(() => document.activeElement?.textContent)).toBe('Model');
      await tabTo(app, (el) => el?.id === 'model-alpha');
      await page.keyboard.press('ArrowRight');
      await expect.poll(() => page.getByTestId('alpha-value').textContent()).toBe('α = 8');
      await page.keyboard.press('ArrowLeft');
      await expect.poll(() => page.getByTestId('alpha-value').textContent()).toBe('α = 4');
      await app.screenshot('31-keyboard-model');
    });

    it('Alt+3 opens Train; Tab reaches the Start button and the epochs field', async () => {
      const { page } = app;
      await page.keyboard.press('Alt+3');
      await expect.poll(() => page.evaluate(() => document.activeElement?.textContent)).toBe('Train');
      await tabTo(app, (el) => el?.textContent?.trim() === 'Start training');
      await tabTo(app, (el) => el?.id === 'train-epochs');
      await page.keyboard.press('Control+A');
      await page.keyboard.type('3');
      expect(await page.locator('#train-epochs').inputValue()).toBe('3');
      await app.screenshot('32-keyboard-train');
    });

    it('Enter in a form field submits it; an empty field is named before anything is sent', async () => {
      const { page } = app;
      await page.locator('#train-epochs').fill('');
      await page.locator('#train-epochs').press('Enter');
      await expect.poll(() => page.locator('#train-epochs').getAttribute('aria-invalid')).toBe('true');
      expect(await page.getByRole('alert').first().textContent()).toMatch(/epochs must be an integer/);
      expect(await page.getByTestId('monitor').count()).toBe(0);
      await app.screenshot('33-keyboard-train-field-error');
      await page.locator('#train-epochs').fill('3');
    });

    it('the navigation is reachable by Tab and Enter activates it', async () => {
      const { page } = app;
      await page.keyboard.press('Alt+1');
      await expect.poll(() => page.evaluate(() => document.activeElement?.textContent)).toBe('Dataset');
      // Back from the screen's heading: the last item of the navigation.
      await page.keyboard.press('Shift+Tab');
      expect(await page.evaluate(() => document.activeElement?.getAttribute('aria-keyshortcuts'))).toBe('Alt+7');
      await page.keyboard.press('Enter');
      await expect.poll(() => page.getByRole('heading', { name: 'System', level: 1 }).isVisible()).toBe(true);
      await page.keyboard.press('Alt+6');
      await expect.poll(() => page.getByRole('heading', { name: 'Sweeps', level: 1 }).isVisible()).toBe(true);
      await page.keyboard.press('Alt+5');
      await expect.poll(() => page.getByRole('heading', { name: 'History', level: 1 }).isVisible()).toBe(true);
      await page.keyboard.press('Alt+4');
      await expect.poll(() => page.getByRole('heading', { name: 'Results & export', level: 1 }).isVisible()).toBe(true);
    });

    it('saw no console errors and no Content-Security-Policy violations on any screen', () => {
      expect(app.problems).toEqual([]);
    });
  });

  describe('dark theme (the OS preference)', () => {
    let app: OpenedApp;
    beforeAll(async () => {
      app = await openApp(await served.freshUrl(), { colorScheme: 'dark' });
    });
    afterAll(async () => {
      await app?.close();
    });

    it('every screen renders dark', async () => {
      const { page } = app;
      const luminance = (): Promise<number> =>
        page.evaluate(() => {
          const [r, g, b] = getComputedStyle(document.body).backgroundColor.match(/\d+/g)!.map(Number) as [number, number, number];
          return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255;
        });
      expect(await luminance()).toBeLessThan(0.2);
      await page.getByRole('button', { name: 'Use sample dataset' }).click();
      await page.getByTestId('scan-summary').waitFor({ timeout: 30_000 });
      await app.screenshot('40-dark-dataset');
      for (const [key, name] of [
        ['Alt+2', '41-dark-model'],
        ['Alt+3', '42-dark-train'],
        ['Alt+4', '43-dark-results'],
        ['Alt+5', '44-dark-history'],
        ['Alt+6', '45-dark-sweeps'],
        ['Alt+7', '46-dark-system'],
      ] as const) {
        await page.keyboard.press(key);
        await page.waitForTimeout(150);
        await app.screenshot(name);
      }
      expect(await luminance()).toBeLessThan(0.2);
    });

    it('saw no console errors and no Content-Security-Policy violations', () => {
      expect(app.problems).toEqual([]);
    });
  });
});
