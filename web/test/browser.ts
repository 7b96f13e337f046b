// Browser-test helpers: Debian's Chromium driven by playwright-core (no browser download), pages of the
// web client as served by a mesh's gateways, and screenshots for docs/screenshots.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { connect, randomUsername, signUp, type ParleyConnection } from '@parley/client';
import { repoRoot, type Mesh } from '@parley/testing';

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

/**
 * Which optional capabilities the mesh has (receipts, typing, presence): probed with the Node client
 * on a throwaway chat, by whether the events actually arrive. A capability that is not there yet
 * (its requests answer `unavailable`, or no event comes) is not asserted on; the tests then check
 * that the page shows nothing for it instead of an error.
 */
export async function probeCapabilities(mesh: Mesh): Promise<{ receipts: boolean; typing: boolean; presence: boolean }> {
  const a = await signUp(mesh.gatewayUrls[0]!, { username: unique('pa') });
  const b = await signUp(mesh.gatewayUrls[0]!, { username: unique('pb') });
  const ca: ParleyConnection = await connect(mesh.wsUrls[0]!, a.accessToken);
  const cb: ParleyConnection = await connect(mesh.wsUrls[1]!, b.accessToken);
  const arrives = (p: Promise<unknown>) => p.then(() => true, () => false);
  try {
    const { chat } = await ca.request('chat.create', { type: 'direct', userId: b.userId });
    const sent = await ca.request('message.send', { chatId: chat.chatId, clientMsgId: 'probe-0001', body: { text: 'probe' } });
    await cb.waitForEvent('message.new', (d) => d.message.seq === sent.seq, 10_000);
    const readReceipt = ca.waitForEvent('receipt', (d) => d.status === 'read', 4000);
    await cb.request('message.ack', { items: [{ chatId: chat.chatId, seq: sent.seq }] }).catch(() => undefined);
    await cb.request('message.read', { chatId: chat.chatId, seq: sent.seq }).catch(() => undefined);
    const receipts = await arrives(readReceipt);
    const typingEvent = cb.waitForEvent('typing', () => true, 3000);
    await ca.request('typing', { chatId: chat.chatId, state: 'typing' }).catch(() => undefined);
    const typing = await arrives(typingEvent);
    const presence = await ca
      .request('presence.subscribe', { userIds: [b.userId] })
      .then((r) => r.presence.some((p) => p.userId === b.userId && p.status === 'online'), () => false);
    return { receipts, typing, presence };
  } finally {
    await Promise.all([ca.close(), cb.close()]);
  }
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
