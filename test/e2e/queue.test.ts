import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorker, type WorkerProcess } from '../helpers/queue-workers.js';
import { HAS_REDIS, startRedis, type RedisServer } from '../helpers/redis.js';
import { hasChromium, type OpenedApp } from './helpers/browser.js';
import type { Served } from './helpers/serve.js';
import { closeServed, serveAndOpen } from './helpers/session.js';

/**
 * "Run on" a queue, with real clicks: a run trained by an `adjoin worker`
 * process (on a real redis-server) is followed in the Train monitor, shows
 * its worker in Results, and the choice is remembered after a reload.
 */
describe.skipIf(!hasChromium || !HAS_REDIS)('training on a queue of workers from the app', () => {
  let redis: RedisServer;
  let worker: WorkerProcess;
  let served: Served;
  let app: OpenedApp;

  beforeAll(async () => {
    redis = await startRedis();
    worker = await startWorker(redis.url(0), 'e2e-worker');
    ({ served, app } = await serveAndOpen());
  });

  afterAll(async () => {
    await closeServed(app, served);
    await worker?.kill9();
    await redis?.stop();
  });

  it('the Train screen checks the queue, lists its worker, and the run trains there while the monitor follows it', async () => {
    const { page } = app;
    await page.getByRole('button', { name: 'Use sample dataset' }).click();
    await page.getByTestId('scan-summary').waitFor({ timeout: 30_000 });
    await page.getByRole('button', { name: 'Next: Model →' }).click();
    await page.getByLabel('Width multiplier').fill('0.0625');
    await page.getByRole('button', { name: 'Next: Train →' }).click();
    await page.getByLabel('Epochs').fill('1');
    await page.getByRole('checkbox', { name: 'Use only the first' }).check();
    await page.getByLabel('training images to use').fill('200');

    const form = page.getByRole('form', { name: 'Settings' });
    await form.getByRole('radio', { name: 'A queue of workers' }).check();
    await page.getByLabel('Queue URL').fill('redis://127.0.0.1:1');
    await form.getByRole('button', { name: 'Check' }).click();
    await expect.poll(() => form.getByRole('alert').first().textContent(), { timeout: 30_000 }).toMatch(/nothing is listening at 127\.0\.0\.1:1/);

    await page.getByLabel('Queue URL').fill(redis.url(0));
    await form.getByRole('button', { name: 'Check' }).click();
    await expect.poll(() => page.getByTestId('train-queue-workers').textContent(), { timeout: 30_000 }).toMatch(/1 worker\s+—\s+e2e-worker on /);
    await app.screenshot('30-train-run-on-queue');

    await page.getByRole('button', { name: 'Start training' }).click();
    const status = page.getByTestId('monitor').getByTestId('status');
    await expect.poll(() => status.textContent(), { timeout: 120_000 }).toBe('running');
    await page.getByRole('button', { name: 'See results →' }).waitFor({ timeout: 180_000 });
    expect(await status.textContent()).toBe('finished');
    expect(worker.output()).toMatch(/run 1 of .*: finished/);

    await page.getByRole('button', { name: 'See results →' }).click();
    await expect.poll(() => page.getByTestId('run-worker').textContent()).toBe('e2e-worker');
    await app.screenshot('31-results-from-a-worker');

    // The sweep dialog offers the same choice, as left.
    await page.getByRole('navigation', { name: 'Screens' }).getByRole('button', { name: /Model/ }).click();
    await page.getByRole('button', { name: 'Compare α values…' }).click();
    const dialog = page.getByRole('dialog', { name: 'Compare α values' });
    await dialog.waitFor();
    expect(await dialog.getByRole('radio', { name: 'A queue of workers' }).isChecked()).toBe(true);
    expect(await dialog.getByLabel('Queue URL').inputValue()).toBe(redis.url(0));
    await app.screenshot('32-sweep-dialog-run-on');
    await page.keyboard.press('Escape');
  });

  it('remembers the choice: after a reload the Train screen still runs on the queue', async () => {
    const { page } = app;
    await page.reload();
    await page.getByRole('navigation', { name: 'Screens' }).getByRole('button', { name: /Train/ }).click();
    const form = page.getByRole('form', { name: 'Settings' });
    await expect.poll(() => form.getByRole('radio', { name: 'A queue of workers' }).isChecked(), { timeout: 30_000 }).toBe(true);
    expect(await page.getByLabel('Queue URL').inputValue()).toBe(redis.url(0));
  });
});
