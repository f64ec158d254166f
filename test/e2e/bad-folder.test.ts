import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasChromium, type OpenedApp } from './helpers/browser.js';
import type { Served } from './helpers/serve.js';
import { closeServed, serveAndOpen } from './helpers/session.js';

/** A folder a person could easily drop by mistake: every problem is named with its file, and nothing can start. */
describe.skipIf(!hasChromium)('scanning a bad folder', () => {
  let served: Served;
  let app: OpenedApp;
  let folder: string;

  beforeAll(async () => {
    folder = await mkdtemp(join(tmpdir(), 'adjoin-e2e-bad-'));
    await mkdir(join(folder, 'shirts'));
    await writeFile(join(folder, 'shirts', 'a.jpg'), '');
    await writeFile(join(folder, 'shirts', 'b.png'), 'this is a text file, not a PNG\n');
    await mkdir(join(folder, 'empty'));
    await writeFile(join(folder, '.DS_Store'), 'Bud1');
    ({ served, app } = await serveAndOpen());
  });

  afterAll(async () => {
    await closeServed(app, served);
    if (folder !== undefined) await rm(folder, { recursive: true, force: true });
  });

  it('lists the warnings with file names and marks the dataset unusable', async () => {
    const { page } = app;
    await page.getByLabel('Folder path').fill(folder);
    await page.getByRole('button', { name: 'Scan', exact: true }).click();
    await page.getByTestId('scan-summary').waitFor({ timeout: 30_000 });
    expect(await page.getByTestId('verdict').textContent()).toMatch(/cannot be used/);
    const problems = page.getByTestId('problems');
    const text = (await problems.textContent()) ?? '';
    expect(text).toContain('shirts/a.jpg');
    expect(text).toContain('shirts/b.png');
    expect(text).toContain('.DS_Store');
    expect(text).toMatch(/empty/);
    expect(await problems.locator('tbody tr').count()).toBeGreaterThanOrEqual(4);
    expect(await page.getByRole('button', { name: 'Next: Model →' }).isDisabled()).toBe(true);
    await page.getByRole('heading', { name: /^Problems/ }).scrollIntoViewIfNeeded();
    await app.screenshot('20-dataset-bad-folder');
  });

  it('the Train screen says why it cannot start', async () => {
    const { page } = app;
    await page.keyboard.press('Alt+3');
    expect(await page.getByRole('button', { name: 'Start training' }).isDisabled()).toBe(true);
    expect(await page.getByText('The dataset cannot be used as it is').isVisible()).toBe(true);
  });

  it('a path that is not a folder is refused with the reason, next to the field', async () => {
    const { page } = app;
    await page.keyboard.press('Alt+1');
    await page.getByLabel('Folder path').fill(join(folder, 'does-not-exist'));
    await page.getByRole('button', { name: 'Scan', exact: true }).click();
    const error = page.locator('#dataset-path-error');
    await error.waitFor({ timeout: 30_000 });
    expect(await error.textContent()).toContain('does not exist');
    expect(await page.getByLabel('Folder path').getAttribute('aria-invalid')).toBe('true');
    await app.screenshot('21-dataset-missing-folder');
  });

  it('saw no console errors and no Content-Security-Policy violations', () => {
    expect(app.problems).toEqual([]);
  });
});
