// Browser-test helpers: Debian's Chromium driven by playwright-core (no browser download), pages of the
// web client as served by a mesh's gateways, and screenshots for docs/screenshots.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { randomUsername } from '@parley/client';
import { repoRoot } from '@parley/testing';

export function chromiumPath(): string {
  const fromEnv = process.env.PARLEY_CHROMIUM;
  if (fromEnv && existsSync(fromEnv)) return fromEnv;
  try {
    return execFileSync('bash', [join(repoRoot(), 'web', 'scripts', 'ensure-chromium.sh')], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error('no Chromium: run web/scripts/ensure-chromium.sh (installs Debian chromium) or set PARLEY_CHROMIUM');
  }
}

export function assertBuilt(): void {
  if (!existsSync(join(repoRoot(), 'web', 'dist', 'index.html'))) {
    throw new Error('web/dist is missing: run `pnpm --filter @parley/web run build` (./parley build does it)');
  }
}

export async function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    // root in CI: no sandbox; keep it light on a shared 2-core machine
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu', '--disable-extensions', '--mute-audio'],
  });
}

export const PHONE = { width: 390, height: 760 };
export const DESKTOP = { width: 1100, height: 720 };

export async function newPage(browser: Browser, url: string, viewport = DESKTOP): Promise<{ ctx: BrowserContext; page: Page }> {
  const ctx = await browser.newContext({ viewport, locale: 'en-GB', timezoneId: 'UTC', colorScheme: 'light' });
  const page = await ctx.newPage();
  page.setDefaultTimeout(15_000);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  (page as Page & { errors?: string[] }).errors = errors;
  await page.goto(url);
  return { ctx, page };
}

/** Uncaught errors the page threw (the client must never throw, whatever a service answers). */
export function pageErrors(page: Page): string[] {
  return (page as Page & { errors?: string[] }).errors ?? [];
}

export const PASSWORD = 'correct horse battery';

export async function signUpInPage(page: Page, username: string, displayName: string): Promise<void> {
  await page.getByRole('button', { name: 'Create an account' }).click();
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Display name').fill(displayName);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign up' }).click();
  await page.getByTestId('me').waitFor();
  await waitOnline(page);
}

export async function logInInPage(page: Page, username: string): Promise<void> {
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByTestId('me').waitFor();
  await waitOnline(page);
}

export async function waitOnline(page: Page, timeout = 20_000): Promise<void> {
  await page.locator('.conn-banner[data-state="online"]').waitFor({ state: 'attached', timeout });
}

export async function openChat(page: Page, title: string): Promise<void> {
  await page.locator('.chat-item', { has: page.locator('.chat-title', { hasText: title }) }).click();
  await page.getByTestId('chat-title').filter({ hasText: title }).waitFor();
}

export async function sendText(page: Page, text: string): Promise<void> {
  const box = page.getByLabel('Message', { exact: true });
  await box.fill(text);
  await box.press('Enter');
}

/** The bubble (or system line) whose text contains `text`. */
export function message(page: Page, text: string) {
  return page.getByRole('log', { name: 'Messages' }).locator('[data-seq]', { hasText: text });
}

/** The seqs shown in the open conversation, in DOM order. */
export async function shownSeqs(page: Page): Promise<number[]> {
  return page.$$eval('.messages [data-seq]', (els) => els.map((e) => Number(e.getAttribute('data-seq'))));
}

export function unique(prefix: string): string {
  return randomUsername(prefix).slice(0, 20);
}

export async function screenshot(page: Page, name: string): Promise<void> {
  const dir = process.env.PARLEY_SCREENSHOT_DIR ?? join(repoRoot(), '.run', 'screenshots');
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: join(dir, `${name}.png`), animations: 'disabled', caret: 'hide' });
}

/** Controls without an accessible name (label, aria-label or text): the page must have none. */
export async function unlabelled(page: Page): Promise<string[]> {
  return page.$$eval('button, input:not([type=hidden]), textarea, select, a[href]', (els) =>
    els
      .filter((el) => {
        const e = el as HTMLInputElement;
        const name = e.getAttribute('aria-label') || e.getAttribute('aria-labelledby') || (e.labels && e.labels.length > 0 ? 'label' : '') || e.textContent?.trim() || e.getAttribute('title');
        return !name;
      })
      .map((el) => el.outerHTML.slice(0, 120)),
  );
}
