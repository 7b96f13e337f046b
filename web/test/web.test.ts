// The web client in a real browser (Debian's Chromium via playwright-core) against a whole mesh with two
// gateways, the page loaded from the first gateway at `/`. One mesh for the file; the tests run in order
// and the last one kills a gateway. Screenshots of the main screens land in .run/screenshots (the ones
// in docs/screenshots were copied from there).
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { repoRoot, startMesh, type Mesh } from '@parley/testing';
import { connect, ParleyHttp, type ParleyConnection } from '@parley/client';
import {
  PASSWORD,
  PHONE,
  assertBuilt,
  launch,
  logInInPage,
  message,
  newPage,
  openChat,
  pageErrors,
  probeCapabilities,
  screenshot,
  sendText,
  shownSeqs,
  signUpInPage,
  unique,
  unlabelled,
  waitOnline,
} from './browser.js';

// jest 30 does not apply a project-level testTimeout (see e2e/chat/helpers.ts)
jest.setTimeout(120_000);

// Every page refreshes at 80 % of this. Not shorter: a refresh whose reply is lost (a 503 when the shared box
// is overloaded) after session rotated the token makes the retry a reuse, which revokes the device.
const TOKEN_TTL_S = 45;
let mesh: Mesh;
let browser: Browser;
let caps: { receipts: boolean; typing: boolean; presence: boolean };
const contexts: BrowserContext[] = [];
const users = { alice: unique('alice'), bob: unique('bob'), carol: unique('carol') };
let alice: Page;
let bob: Page;
let carol: Page;

async function page(viewport?: { width: number; height: number }): Promise<Page> {
  const { ctx, page: p } = await newPage(browser, `${mesh.gatewayUrls[0]}/`, viewport);
  contexts.push(ctx);
  return p;
}

beforeAll(async () => {
  assertBuilt();
  // Short-lived access tokens, so the suite sees the page refresh them (and the gateway close expired ones).
  [mesh, browser] = await Promise.all([startMesh({
      gateways: 2,
      // the history test sends 70 messages from Node at once
      env: { SESSION_ACCESS_TOKEN_TTL_SECONDS: String(TOKEN_TTL_S), GATEWAY_RATE_SEND_PER_MINUTE: '6000', GATEWAY_RATE_SEND_BURST: '200' },
    }), launch()]);
  caps = await probeCapabilities(mesh);
  console.log(`capabilities of this mesh: ${JSON.stringify(caps)}`);
}, 180_000);

afterAll(async () => {
  for (const c of contexts) await c.close().catch(() => undefined);
  await browser?.close();
  await mesh?.stop();
});

it('the gateway serves the client at / with its config', async () => {
  const res = await fetch(`${mesh.gatewayUrls[0]}/`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/html/);
  expect(res.headers.get('content-security-policy')).toContain("default-src 'self'");
  const html = await res.text();
  const asset = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
  expect(asset).toBeDefined();
  const js = await fetch(`${mesh.gatewayUrls[1]}${asset}`);
  expect(js.status).toBe(200);
  expect(js.headers.get('cache-control')).toContain('immutable');
  const cfg = (await (await fetch(`${mesh.gatewayUrls[0]}/config.json`)).json()) as { gateways: string[] };
  expect(cfg.gateways).toEqual(mesh.gatewayUrls);
  // everything else keeps the API's JSON 404
  const nf = await fetch(`${mesh.gatewayUrls[0]}/nope.html`);
  expect(nf.status).toBe(404);
  expect(((await nf.json()) as { error: { code: string } }).error.code).toBe('not_found');
});

it('two users sign up in two browsers, start a direct chat and exchange messages', async () => {
  alice = await page();
  bob = await page();
  await screenshot(alice, 'login');
  expect(await unlabelled(alice)).toEqual([]);
  await signUpInPage(alice, users.alice, 'Alice');
  await signUpInPage(bob, users.bob, 'Bob');

  await alice.getByRole('button', { name: 'New chat' }).click();
  await alice.getByRole('form', { name: 'New direct chat' }).getByLabel('Username').fill(users.bob);
  await alice.getByRole('button', { name: 'Start chat' }).click();
  await alice.getByTestId('chat-title').filter({ hasText: 'Bob' }).waitFor();
  await sendText(alice, 'Hi Bob, this is Parley in a browser');
  await message(alice, 'Hi Bob').locator('.tick.sent, .tick.delivered, .tick.read').waitFor();

  // Bob: the chat appears with one unread message, newest first
  const item = bob.getByRole('list', { name: 'Chat list' }).getByRole('button', { name: /Alice/ });
  await item.waitFor();
  await expectAttr(item, 'data-unread', '1');
  await screenshot(bob, 'chat-list');
  // keyboard: the chat list entries are buttons; Enter opens one
  await item.focus();
  await bob.keyboard.press('Enter');
  await bob.getByTestId('chat-title').filter({ hasText: 'Alice' }).waitFor();
  await message(bob, 'Hi Bob, this is Parley in a browser').waitFor();
  await expectAttr(item, 'data-unread', '0');
  expect(await unlabelled(bob)).toEqual([]);

  if (caps.typing) {
    await bob.getByLabel('Message', { exact: true }).pressSequentially('typing…', { delay: 20 });
    await alice.getByTestId('chat-subtitle').filter({ hasText: 'typing…' }).waitFor();
    await bob.getByLabel('Message', { exact: true }).fill('');
  }
  // reply to Alice's message
  await message(bob, 'Hi Bob').hover();
  await message(bob, 'Hi Bob').getByRole('button', { name: 'Reply to this message' }).click();
  await sendText(bob, 'Hello Alice! Replying to you.');
  const reply = message(alice, 'Hello Alice! Replying to you.');
  await reply.waitFor();
  await expect(reply.locator('.quote').textContent()).resolves.toContain('Hi Bob');

  for (let i = 1; i <= 3; i++) await sendText(alice, `message ${i}`);
  await message(bob, 'message 3').waitFor();
  // shown in the order typed, on both sides
  for (const p of [alice, bob]) {
    const texts = await p.$$eval('.messages [data-seq] .text', (els) => els.map((e) => e.textContent ?? ''));
    expect(texts.filter((t) => t.startsWith('message '))).toEqual(['message 1', 'message 2', 'message 3']);
  }
  // every message in seq order on both sides, no gaps (seq 1 is the chat's `created` system message, if any)
  for (const p of [alice, bob]) {
    const seqs = await shownSeqs(p);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(seqs[seqs.length - 1]! - seqs[0]! + 1).toBe(seqs.length);
  }
  if (caps.receipts) {
    // Bob has the chat open: Alice's messages go to read (✓✓ blue)
    await message(alice, 'message 3').locator('.tick.read').waitFor();
  } else {
    // read receipts not there yet: the tick stays at "sent" (or "delivered", if only those arrive), and nothing errors
    await expectAttr(message(alice, 'message 3'), 'data-status', /^(sent|delivered)$/);
  }
  await screenshot(alice, 'conversation');
  expect(pageErrors(alice)).toEqual([]);
  expect(pageErrors(bob)).toEqual([]);
});

it('media: attach a photo (straight to the presigned URL, with progress), thumbnail on the other side, click to open', async () => {
  await openChat(alice, 'Bob');
  await openChat(bob, 'Alice');
  const photo = join(repoRoot(), 'web', 'test', 'fixtures', 'photo.png');
  await alice.getByLabel('Message', { exact: true }).fill('the view from here');
  await alice.locator('.composer input[type=file]').setInputFiles(photo);
  const bubble = message(bob, 'the view from here');
  await bubble.waitFor({ timeout: 30_000 });
  const img = bubble.locator('.attachment.image img');
  await img.waitFor({ timeout: 20_000 });
  // the thumbnail really decoded (an object URL of the server's JPEG/WebP thumbnail)
  await bob.waitForFunction((el) => (el as HTMLImageElement).complete && (el as HTMLImageElement).naturalWidth > 0, await img.elementHandle());
  expect(await img.getAttribute('src')).toMatch(/^blob:/);
  const [popup] = await Promise.all([bob.waitForEvent('popup'), bubble.getByRole('button', { name: /Open/ }).click()]);
  expect(popup.url()).toMatch(/^blob:/);
  await popup.close();
  await screenshot(bob, 'media');
  expect(pageErrors(alice)).toEqual([]);
  expect(pageErrors(bob)).toEqual([]);
});

it('a group of three: create, rename, remove a member; system messages inline', async () => {
  carol = await page(PHONE);
  await signUpInPage(carol, users.carol, 'Carol');

  await alice.getByRole('button', { name: 'New group' }).click();
  const form = alice.getByRole('form', { name: 'New group' });
  await form.getByLabel('Group name').fill('Weekend plans');
  await form.getByLabel('Members').fill(`${users.bob}, ${users.carol}`);
  await alice.getByRole('button', { name: 'Create group' }).click();
  await alice.getByTestId('chat-title').filter({ hasText: 'Weekend plans' }).waitFor();
  await sendText(alice, 'Who is in for Saturday?');

  await openChat(bob, 'Weekend plans');
  await openChat(carol, 'Weekend plans');
  await message(carol, 'Who is in for Saturday?').waitFor();
  await sendText(carol, 'Me! 🙋');
  await message(alice, 'Me!').waitFor();
  await message(bob, 'Me!').waitFor();
  await screenshot(carol, 'phone-group');

  await alice.getByRole('button', { name: 'Group info' }).click();
  const info = alice.getByRole('dialog', { name: 'Group info' });
  await info.getByLabel('Group name').fill('Saturday hike');
  await info.getByRole('button', { name: 'Rename' }).click();
  await message(bob, 'renamed the group to “Saturday hike”').waitFor();
  await bob.getByTestId('chat-title').filter({ hasText: 'Saturday hike' }).waitFor();

  await info.getByRole('button', { name: 'Make admin' }).first().click();
  await info.locator('.role').nth(1).waitFor();

  await info.getByRole('button', { name: 'Remove Carol' }).click();
  await message(bob, 'removed Carol').waitFor();
  await message(carol, 'removed you').waitFor();
  await carol.getByText('You are no longer a member of this group.').waitFor();
  await screenshot(alice, 'group');
  expect(await unlabelled(alice)).toEqual([]);
  await info.getByRole('button', { name: 'Close group info' }).click();

  // Carol sees nothing sent after her removal
  await sendText(alice, 'Carol cannot see this');
  await message(bob, 'Carol cannot see this').waitFor();
  await carol.waitForTimeout(500);
  expect(await message(carol, 'Carol cannot see this').count()).toBe(0);
  expect(pageErrors(alice)).toEqual([]);
  expect(pageErrors(carol)).toEqual([]);
});

it('history pages in when scrolling up, in seq order, without gaps', async () => {
  const http = new ParleyHttp(mesh.gatewayUrls[0]!);
  const carolTokens = await http.login({ username: users.carol, password: PASSWORD });
  const carolNode = await connect(mesh.wsUrls[1]!, carolTokens.accessToken);
  const bobId = (await http.withToken(carolTokens.accessToken).findUser(users.bob)).userId;
  const { chat } = await carolNode.request('chat.create', { type: 'direct', userId: bobId });
  for (let i = 1; i <= 70; i++) {
    const req = { chatId: chat.chatId, clientMsgId: `hist-${i}-${chat.chatId.slice(0, 8)}`, body: { text: `history ${i}` } };
    // same clientMsgId on a retry (idempotent): `unavailable` is retryable by contract
    for (let attempt = 0; ; attempt++) {
      try {
        await carolNode.request('message.send', req);
        break;
      } catch (err) {
        if ((err as { code?: string }).code !== 'unavailable' || attempt >= 5) throw err;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }
  await carolNode.close();
  // Bob got them live; after a reload the page holds only the latest page of each chat
  await bob.locator('.chat-item .chat-preview', { hasText: 'history 70' }).waitFor();
  await bob.waitForTimeout(500); // acks are batched every 100 ms; acked messages are not redelivered
  await bob.reload();
  await waitOnline(bob);
  await openChat(bob, 'Carol');
  await message(bob, 'history 70').waitFor();
  const first = await shownSeqs(bob);
  expect(first[0]).toBeGreaterThan(1);
  const list = bob.getByRole('log', { name: 'Messages' });
  for (let i = 0; i < 10 && (await bob.locator('.messages [data-seq="1"]').count()) === 0; i++) {
    await list.evaluate((el) => (el.scrollTop = 0));
    await bob.waitForTimeout(400);
  }
  const all = await shownSeqs(bob);
  expect(all[0]).toBe(1);
  expect(all).toEqual(Array.from({ length: all.length }, (_, i) => i + 1));
  expect(all.length).toBe(71); // the chat's system message + 70
});

it('a reload restores the session; a second browser of the same user stays in step; devices can be removed', async () => {
  await alice.reload();
  await alice.getByTestId('me').filter({ hasText: users.alice }).waitFor();
  await waitOnline(alice);
  await openChat(alice, 'Bob');
  await message(alice, 'message 3').waitFor();

  // Alice's second device (another browser profile)
  const alice2 = await page();
  await logInInPage(alice2, users.alice);
  await openChat(alice2, 'Bob');
  await message(alice2, 'Hello Alice! Replying to you.').waitFor();
  await openChat(bob, 'Alice');
  await sendText(bob, 'seen on both of your devices?');
  await message(alice, 'seen on both').waitFor();
  await message(alice2, 'seen on both').waitFor();
  await sendText(alice2, 'yes, sent from the second one');
  await message(alice, 'sent from the second one').waitFor();

  // remove the second device from the first: it is signed out
  await alice.getByRole('button', { name: 'Devices' }).click();
  const dialog = alice.getByRole('dialog', { name: 'Your devices' });
  await dialog.locator('li').nth(1).waitFor();
  await screenshot(alice, 'devices');
  await dialog.locator('li', { hasNotText: 'this device' }).getByRole('button', { name: /Remove/ }).click();
  await alice2.getByRole('button', { name: 'Log in' }).waitFor({ timeout: 20_000 });
  await expect(alice2.getByRole('alert').textContent()).resolves.toMatch(/signed out|removed/);
  await dialog.locator('li').nth(1).waitFor({ state: 'detached' });
  await alice.getByRole('button', { name: 'Close devices' }).click();
});

it('refreshes the token before it expires and moves the socket onto it without a "connecting" gap', async () => {
  type Live = { parley: { live: { connects: number; renewals: number; state: string }; session: { current: { expiresAt: number; accessToken: string } } } };
  const read = () =>
    bob.evaluate(() => {
      const p = (window as unknown as Live).parley;
      return { connects: p.live.connects, renewals: p.live.renewals, expiresAt: p.session.current.expiresAt, token: p.session.current.accessToken };
    });
  const before = await read();
  // watch the banner: it must not leave "online" during the renewal
  await bob.evaluate(() => {
    const w = window as unknown as { states: string[] };
    w.states = [];
    const el = document.querySelector('.conn-banner')!;
    new MutationObserver(() => w.states.push(el.getAttribute('data-state') ?? '')).observe(el, { attributes: true });
  });
  await bob.waitForFunction((r) => (window as unknown as Live).parley.live.renewals > r, before.renewals, { timeout: (TOKEN_TTL_S + 10) * 1000 });
  const after = await read();
  expect(after.token).not.toBe(before.token);
  expect(after.expiresAt).toBeGreaterThan(before.expiresAt);
  expect(after.connects).toBe(before.connects);
  // past the old token's expiry: still online, still delivering
  await bob.waitForTimeout(Math.max(0, before.expiresAt - Date.now()) + 2000);
  expect(await bob.evaluate(() => (window as unknown as { states: string[] }).states)).toEqual([]);
  await openChat(bob, 'Alice');
  await openChat(alice, 'Bob');
  await sendText(alice, 'still here after the token refresh');
  await message(bob, 'still here after the token refresh').waitFor();
});

it('killing the gateway a page is on: it shows "Connecting…", moves to the other gateway, loses nothing; a 1012 moves it back', async () => {
  await openChat(bob, 'Alice');
  const before = await alice.evaluate(() => (window as unknown as { parley: { live: { gateway: string } } }).parley.live.gateway);
  expect(before).toBe(mesh.gatewayUrls[0]);
  // a third party keeps sending from Node while the gateway is down
  const http = new ParleyHttp(mesh.gatewayUrls[1]!);
  const bobTokens = await http.login({ username: users.bob, password: PASSWORD });
  const bobNode: ParleyConnection = await connect(mesh.wsUrls[1]!, bobTokens.accessToken);
  const chatId = await alice.evaluate(() => (window as unknown as { parley: { openChatId: string } }).parley.openChatId);

  await mesh.kill('gateway-0');
  await alice.locator('.conn-banner[data-state="connecting"]').waitFor({ state: 'attached', timeout: 10_000 });
  await screenshot(alice, 'connecting');
  // typed during the outage: queued, sent after the reconnect
  await sendText(alice, 'typed while the gateway was down');
  await bobNode.request('message.send', { chatId, clientMsgId: `node-${Date.now()}`, body: { text: 'sent by Bob during the outage' } });
  await waitOnline(alice, 30_000);
  await waitOnline(bob, 30_000);
  const after = await alice.evaluate(() => (window as unknown as { parley: { live: { gateway: string } } }).parley.live.gateway);
  expect(after).toBe(mesh.gatewayUrls[1]);

  await message(alice, 'sent by Bob during the outage').waitFor();
  await message(bob, 'typed while the gateway was down').waitFor();
  await message(bob, 'sent by Bob during the outage').waitFor();
  await expectAttr(message(alice, 'typed while the gateway was down'), 'data-status', /sent|delivered|read/);
  await sendText(bob, 'after the failover');
  await message(alice, 'after the failover').waitFor();
  for (const p of [alice, bob]) {
    const seqs = await shownSeqs(p);
    expect(seqs[seqs.length - 1]! - seqs[0]! + 1).toBe(seqs.length);
    expect(new Set(seqs).size).toBe(seqs.length);
  }
  // the typed message was stored exactly once
  const hist = await bobNode.request('message.history', { chatId, limit: 100 });
  expect(hist.messages.filter((m) => m.body.text === 'typed while the gateway was down')).toHaveLength(1);
  await bobNode.close();

  // A graceful restart of the gateway it moved to (SIGTERM: close 1012): back to the first one.
  await mesh.start('gateway-0');
  const restarting = mesh.kill('gateway-1', 'SIGTERM');
  await alice.locator('.conn-banner[data-state="connecting"]').waitFor({ state: 'attached', timeout: 10_000 });
  await waitOnline(alice, 30_000);
  await waitOnline(bob, 30_000);
  await restarting;
  expect(await alice.evaluate(() => (window as unknown as { parley: { live: { gateway: string } } }).parley.live.gateway)).toBe(mesh.gatewayUrls[0]);
  await sendText(alice, 'after the 1012');
  await message(bob, 'after the 1012').waitFor();
  expect(pageErrors(alice)).toEqual([]);
  expect(pageErrors(bob)).toEqual([]);
});

async function expectAttr(loc: ReturnType<Page['locator']>, name: string, want: string | RegExp, timeout = 15_000): Promise<void> {
  const t0 = Date.now();
  let last: string | null = null;
  while (Date.now() - t0 < timeout) {
    last = await loc.getAttribute(name).catch(() => null);
    if (last !== null && (typeof want === 'string' ? last === want : want.test(last))) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${name}=${String(last)}, want ${String(want)}`);
}
