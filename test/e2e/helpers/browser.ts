import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { REPO } from './serve.js';

/** Debian's Chromium (apt-get install chromium), driven by playwright-core. */
export const CHROMIUM = '/usr/bin/chromium';
export const hasChromium = existsSync(CHROMIUM);
// CI installs Chromium and sets ADJOIN_REQUIRE_CHROMIUM: there a missing browser fails instead of skipping.
if (!hasChromium && process.env['ADJOIN_REQUIRE_CHROMIUM'] === '1') throw new Error(`${CHROMIUM} is missing (apt-get install chromium)`);
if (!hasChromium) console.warn(`e2e tests skipped: ${CHROMIUM} is missing (apt-get install chromium); CI installs it.`);

export const ARTIFACTS = join(REPO, 'test-artifacts', 'e2e');

export interface OpenedApp {
  browser: Browser;
  context: BrowserContext;
  page: Page;
  /** Console errors, page errors and Content-Security-Policy violations seen so far. */
  problems: string[];
  screenshot(name: string): Promise<string>;
  close(): Promise<void>;
}

/**
 * A fresh browser (its own temporary profile) at 1280×800, the size the UI
 * is designed to be readable at. Every console error, uncaught error and
 * CSP violation is collected: a test ends by asserting there were none.
 */
export async function openApp(url: string, options: { colorScheme?: 'light' | 'dark' } = {}): Promise<OpenedApp> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'],
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: options.colorScheme ?? 'light' });
  const page = await context.newPage();
  const problems: string[] = [];
  await page.exposeFunction('__reportCspViolation', (text: string) => problems.push(text));
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      (window as unknown as { __reportCspViolation(t: string): void }).__reportCspViolation(
        `CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || 'inline code'}`,
      );
    });
  });
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console error: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  await page.goto(url);
  await mkdir(ARTIFACTS, { recursive: true });
  return {
    browser,
    context,
    page,
    problems,
    screenshot: async (name) => {
      const path = join(ARTIFACTS, `${name}.png`);
      await page.screenshot({ path });
      return path;
    },
    close: async () => {
      await context.close();
      await browser.close();
    },
  };
}
