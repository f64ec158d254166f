import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasChromium, type OpenedApp } from './helpers/browser.js';
import type { Served } from './helpers/serve.js';
import { closeServed, serveAndOpen } from './helpers/session.js';

/** The System view: `adjoin doctor`'s report, reached from the navigation like any screen. */
describe.skipIf(!hasChromium)('the System view', () => {
  let served: Served;
  let app: OpenedApp;

  beforeAll(async () => {
    ({ served, app } = await serveAndOpen());
  });

  afterAll(async () => {
    await closeServed(app, served);
  });

  it('lists every backend fastest first, marks the one runs use and says why each other cannot run', async () => {
    const { page } = app;
    await page.getByRole('button', { name: /^⚙\s*System/ }).click();
    await expect.poll(() => page.getByRole('heading', { name: 'System', level: 1 }).isVisible()).toBe(true);
    const rows = page.getByTestId('system-backends').locator('tbody tr');
    await rows.first().waitFor({ timeout: 60_000 });
    expect(await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-kind')))).toEqual(['gpu', 'webgpu', 'node', 'wasm', 'cpu']);
    // The server runs with ADJOIN_BACKEND=wasm.
    expect(await page.getByTestId('system-chosen').textContent()).toMatch(/ADJOIN_BACKEND=wasm:\s*WebAssembly/);
    const wasm = page.locator('[data-testid="system-backends"] tr[data-kind="wasm"]');
    expect(await wasm.locator('td').first().textContent()).toBe('used by runs');
    for (const kind of ['gpu', 'webgpu']) {
      const detail = (await page.locator(`[data-testid="system-backends"] tr[data-kind="${kind}"] td`).nth(1).textContent()) ?? '';
      expect(detail.length, `${kind} gives a reason`).toBeGreaterThan(10);
    }
    expect(await page.getByTestId('system-modules').textContent()).toMatch(/better-sqlite3\s*loads/);
    expect(await page.getByTestId('system-history').textContent()).toMatch(/integrity check passed|no history yet/);
    await app.screenshot('50-system');
  });

  it('checks again on request, and the navigation says what runs use', async () => {
    const { page } = app;
    const again = page.getByRole('button', { name: 'Check again' });
    await again.click();
    await expect.poll(() => page.getByRole('button', { name: 'Check again' }).isEnabled(), { timeout: 60_000 }).toBe(true);
    expect(await page.getByRole('button', { name: /^⚙\s*System/ }).textContent()).toMatch(/runs use WebAssembly/);
  });

  it('saw no console errors and no Content-Security-Policy violations', () => {
    expect(app.problems).toEqual([]);
  });
});
