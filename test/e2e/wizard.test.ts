import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasChromium, type OpenedApp } from './helpers/browser.js';
import type { Served } from './helpers/serve.js';
import { closeServed, serveAndOpen } from './helpers/session.js';

/**
 * The happy path, as a person does it: the sample dataset, a tiny
 * adjoined ResNet-18 (α = 4), two epochs, the run finishing, ONNX and TFLite
 * exports from the export matrix found on disk, the run in History and
 * reopened.
 */
describe.skipIf(!hasChromium)('the wizard, end to end (browser shell)', () => {
  let served: Served;
  let app: OpenedApp;
  let outDir: string;

  beforeAll(async () => {
    ({ served, app } = await serveAndOpen());
    outDir = await mkdtemp(join(tmpdir(), 'adjoin-e2e-export-'));
  });

  afterAll(async () => {
    await closeServed(app, served);
    if (outDir !== undefined) await rm(outDir, { recursive: true, force: true });
  });

  it('takes the address bar’s token out of sight', async () => {
    await expect.poll(() => app.page.url()).not.toContain('token=');
    await expect.poll(() => app.page.getByRole('heading', { name: 'Dataset', level: 1 }).isVisible()).toBe(true);
  });

  it('the link admits one tab: opened again (as from the browser’s history) it says a fresh link is needed', async () => {
    const again = await app.context.newPage();
    try {
      await again.goto(served.url);
      await expect.poll(() => again.getByRole('alert').filter({ hasText: 'Not connected' }).isVisible()).toBe(true);
      expect(await again.getByRole('alert').filter({ hasText: 'Not connected' }).textContent()).toMatch(/each link admits one tab/);
    } finally {
      await again.close();
    }
  });

  it('Dataset: the sample dataset’s scan, with its class chart and thumbnails', async () => {
    const { page } = app;
    await page.getByRole('button', { name: 'Use sample dataset' }).click();
    const summary = page.getByTestId('scan-summary');
    await summary.waitFor({ timeout: 30_000 });
    expect(await page.getByTestId('class-count').textContent()).toBe('10');
    expect(await page.getByTestId('verdict').textContent()).toMatch(/Usable: 10 classes/);
    await expect.poll(() => page.getByRole('img', { name: /^Images per class/ }).isVisible()).toBe(true);
    const thumbnails = page.getByRole('list', { name: 'Sample images per class' }).locator('img');
    expect(await thumbnails.count()).toBeGreaterThanOrEqual(10);
    expect(await thumbnails.first().evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth > 0)).toBe(true);
    await app.screenshot('01-dataset');
  });

  it('Model: a tiny ResNet-18 with AN α = 4; the estimate follows α', async () => {
    const { page } = app;
    await page.getByRole('button', { name: 'Next: Model →' }).click();
    // MobileNetV2 is on offer, with stems of its own, and the estimate follows the choice.
    await page.getByLabel('Architecture').selectOption('mobilenetv2');
    const stemOptions = (): Promise<string[]> => page.getByLabel('Stem').locator('option').allTextContents();
    await expect.poll(stemOptions).toEqual(['CIFAR (3×3 conv, first stride-2 stage at stride 1)', 'ImageNet (3×3/2 conv)']);
    const fullParams = page.getByTestId('estimate-parameters-0');
    const mobilenet = await fullParams.textContent();
    await page.getByLabel('Architecture').selectOption('resnet18');
    await expect.poll(stemOptions).toEqual(['CIFAR (3×3 conv)', 'ImageNet (7×7/2 conv + max-pool)']);
    await expect.poll(() => fullParams.textContent()).not.toBe(mobilenet);
    await page.getByLabel('Stem').selectOption('cifar');
    // The scan suggested the sample's own size and channels.
    expect(await page.getByLabel('Input size (pixels)').inputValue()).toBe('28');
    await page.getByLabel('Channels').selectOption('1');
    await page.getByLabel('Width multiplier').fill('0.125');
    await page.getByLabel(/Adjoined \(AN\)/).check();
    const smallParams = page.getByTestId('estimate-parameters-1');
    const slider = page.getByLabel('Compression factor α');
    await slider.fill('1');
    await expect.poll(() => page.getByTestId('alpha-value').textContent()).toBe('α = 4');
    const atAlpha4 = await smallParams.textContent();
    await slider.fill('2');
    await expect.poll(() => page.getByTestId('alpha-value').textContent()).toBe('α = 8');
    await expect.poll(() => smallParams.textContent()).not.toBe(atAlpha4);
    await slider.fill('1');
    await expect.poll(() => smallParams.textContent()).toBe(atAlpha4);
    await app.screenshot('02-model');
  });

  it('Train settings: Recommended is the short recipe — its lr plot is one cycle — and its lr follows the batch size', async () => {
    const { page } = app;
    await page.getByRole('button', { name: 'Next: Train →' }).click();
    expect(await page.getByLabel('Recipe').inputValue()).toBe('recommended');
    const lrLine = page.getByTestId('train-previews').locator('figure', { hasText: 'Learning rate over the run' }).locator('path.line');
    /** Where the plotted lr peaks, as a fraction of the run (SVG y grows downwards). */
    const peakAt = async (): Promise<number> => {
      const d = (await lrLine.getAttribute('d')) ?? '';
      const points = [...d.matchAll(/[ML](-?[\d.]+),(-?[\d.]+)/g)].map((m) => ({ x: Number(m[1]), y: Number(m[2]) }));
      expect(points.length).toBeGreaterThan(10);
      const top = points.reduce((a, b) => (b.y < a.y ? b : a));
      return (top.x - points[0]!.x) / (points.at(-1)!.x - points[0]!.x);
    };
    expect(await page.getByTestId('train-previews').textContent()).toContain('SGD-Nesterov, one-cycle');
    expect(await peakAt()).toBeCloseTo(0.3, 1);
    // The paper's CIFAR steps start at their peak.
    await page.getByLabel('Recipe').selectOption('paper-cifar');
    await expect.poll(peakAt).toBe(0);
    await page.getByLabel('Recipe').selectOption('recommended');
    await expect.poll(peakAt).toBeCloseTo(0.3, 1);

    const lr = page.getByLabel('Learning rate', { exact: true });
    expect(await lr.inputValue()).toBe('0.05');
    await page.getByLabel('Batch size').fill('128');
    await expect.poll(() => lr.inputValue()).toBe('0.1');
    await page.getByLabel('Batch size').fill('64');
    await expect.poll(() => lr.inputValue()).toBe('0.05');
  });

  it('Train: two epochs start; progress and the loss chart move on the WASM backend; the run finishes', async () => {
    const { page } = app;
    await page.getByLabel('Epochs').fill('2');
    await page.getByLabel('Batch size').fill('64');
    await app.screenshot('03-train-settings');
    await page.getByRole('button', { name: 'Start training' }).click();

    const progress = page.getByRole('progressbar', { name: /^Training: epoch/ });
    const value = async (): Promise<number> => Number((await progress.getAttribute('aria-valuenow')) ?? 0);
    await expect.poll(value, { timeout: 60_000 }).toBeGreaterThan(0);
    const lossLine = page.getByTestId('loss-chart').locator('path.line');
    const firstPath = await lossLine.getAttribute('d');
    const firstValue = await value();
    // Both move with the next steps (a 2-epoch run on wasm takes many seconds; a finished one has nothing left to move).
    if (firstValue < 100) {
      await expect.poll(value, { timeout: 60_000 }).toBeGreaterThan(firstValue);
      await expect.poll(() => lossLine.getAttribute('d'), { timeout: 30_000 }).not.toBe(firstPath);
    }
    expect(await page.getByTestId('monitor').getByTestId('backend-badge').textContent()).toContain('WASM');
    // Next to the badge: why not a GPU (here every faster backend went untried: the server forces wasm).
    const notes = page.getByTestId('monitor').getByTestId('backend-notes');
    await notes.getByText('Why not a GPU?').click();
    expect(await notes.locator('li').first().textContent()).toBe(
      'not tried (ADJOIN_BACKEND=wasm forces wasm): tfjs-node-gpu (CUDA), WebGPU (Dawn), tfjs-node (native CPU)',
    );
    expect(await page.getByTestId('eta').textContent()).toMatch(/\d+ s|\d+ m/);
    expect(await page.getByTestId('speed').textContent()).toMatch(/img\/s/);

    // Mid-run, once the first epoch is on the accuracy chart: the monitor as the README shows it.
    await expect.poll(() => page.getByTestId('accuracy-chart').getByRole('img').getAttribute('aria-label'), { timeout: 60_000 }).toMatch(/small, validation/);
    await app.screenshot('04-train-running');

    await page.getByRole('button', { name: 'See results →' }).waitFor({ timeout: 120_000 });
    expect(await value()).toBe(100);
    await app.screenshot('05-train-finished');
  });

  it('Results: full vs small, the confusion matrix, and ONNX and TFLite exports from the matrix, found on disk', async () => {
    const { page } = app;
    await page.getByRole('button', { name: 'See results →' }).click();
    await expect.poll(() => page.getByTestId('results-title').textContent()).toBe('Run #1');
    const accuracy = page.locator('[data-testid="comparison"] tr[data-row="accuracy"] td');
    expect(await accuracy.nth(0).textContent()).toMatch(/^\d+\.\d%$/);
    expect(await accuracy.nth(1).textContent()).toMatch(/^\d+\.\d%$/);
    expect(await page.locator('[data-testid="comparison"] tr[data-row="params"] td').nth(2).textContent()).toMatch(/fewer/);
    await expect.poll(() => page.getByRole('img', { name: /^Confusion matrix of the small network/ }).isVisible()).toBe(true);

    await page.getByLabel('Output folder').fill(outDir);
    const matrix = page.getByTestId('export-matrix');
    // Eight variants: ONNX and TFLite in fp32, fp16 and int8, TF.js in fp32 and fp16; none exported yet.
    expect(await matrix.locator('tbody tr').count()).toBe(8);
    expect(await matrix.locator('tr[data-variant="tflite-int8"] td').nth(0).textContent()).toBe('—');
    await page.getByRole('button', { name: 'Export ONNX fp32' }).click();
    const result = page.getByTestId('export-result');
    await result.waitFor({ timeout: 120_000 });
    expect(await result.textContent()).toContain('model.onnx');
    expect(existsSync(join(outDir, 'onnx-fp32', 'model.onnx'))).toBe(true);
    expect(existsSync(join(outDir, 'onnx-fp32', 'metadata.json'))).toBe(true);
    // The measured latency now fills the comparison table and the variant's row.
    await expect.poll(() => page.locator('[data-testid="comparison"] tr[data-row="latency"] td').nth(1).textContent()).toMatch(/ms$/);
    const onnxRow = matrix.locator('tr[data-variant="onnx-fp32"] td');
    await expect.poll(() => onnxRow.nth(0).textContent()).toMatch(/^\d+\.\d%$/);
    expect(await onnxRow.nth(1).textContent()).toBe('100.0% top-1');
    expect(await onnxRow.nth(3).textContent()).toMatch(/ms$/);

    // TFLite, checked in LiteRT.js, into its own folder — which holds a labels.txt of the user's: the page asks before replacing it.
    mkdirSync(join(outDir, 'tflite-fp32'));
    writeFileSync(join(outDir, 'tflite-fp32', 'labels.txt'), 'the user’s own labels\n');
    await page.getByRole('button', { name: 'Export TFLite fp32' }).click();
    const question = page.getByRole('dialog', { name: 'Replace files Adjoin did not write?' });
    await question.waitFor();
    expect(await question.textContent()).toMatch(/labels\.txt/);
    expect(readFileSync(join(outDir, 'tflite-fp32', 'labels.txt'), 'utf8')).toBe('the user’s own labels\n');
    await question.getByRole('button', { name: 'Replace them' }).click();
    const tfliteRow = matrix.locator('tr[data-variant="tflite-fp32"] td');
    await expect.poll(() => tfliteRow.nth(3).textContent(), { timeout: 120_000 }).toMatch(/ms$/);
    expect(await tfliteRow.nth(1).textContent()).toBe('100.0% top-1');
    expect(existsSync(join(outDir, 'tflite-fp32', 'model.tflite'))).toBe(true);
    await matrix.scrollIntoViewIfNeeded();
    await app.screenshot('06-results-export-matrix');
    await app.screenshot('06-results');
    await page.getByRole('heading', { name: 'Exported models' }).scrollIntoViewIfNeeded();
    await app.screenshot('06-results-exports');
  });

  it('History: the run is listed with its figures, and reopens in Results', async () => {
    const { page } = app;
    await page
      .getByRole('navigation', { name: 'Screens' })
      .getByRole('button', { name: /History/ })
      .click();
    const row = page.locator('tr[data-run-id="1"]');
    await row.waitFor();
    expect(await row.getByTestId('status').textContent()).toBe('finished');
    expect(await row.textContent()).toContain('fashion-mnist');
    expect(await row.textContent()).toContain('AN α 4');
    await expect.poll(() => page.getByRole('img', { name: /^Small models: validation accuracy vs MACs\. 1 model;/ }).isVisible()).toBe(true);
    await app.screenshot('07-history');
    await page.getByRole('button', { name: 'Open run 1' }).click();
    await expect.poll(() => page.getByTestId('results-title').textContent()).toBe('Run #1');
    await expect.poll(() => page.getByTestId('exported-models').isVisible()).toBe(true);
  });

  it('saw no console errors and no Content-Security-Policy violations', () => {
    expect(app.problems).toEqual([]);
  });
});
