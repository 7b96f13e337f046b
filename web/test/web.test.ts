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
  // Bob has the chat open: Alice's messages go to read (✓✓ blue)
  await message(alice, 'message 3').locator('.tick.read').waitFor();
  await screenshot(alice, 'conversation');
  expect(pageErrors(alice)).toEqual([]);
  expect(pageErrors(bob)).toEqual([]);
});

it('typing: the other side sees "typing…" in the header and the chat list; it clears when they stop, and when they send', async () => {
  await openChat(alice, 'Bob');
  await openChat(bob, 'Alice');
  const subtitle = alice.getByTestId('chat-subtitle');
  const preview = chatItem(alice, 'Bob').locator('.chat-preview');
  const box = bob.getByLabel('Message', { exact: true });
  await box.pressSequentially('hang on', { delay: 30 });
  await subtitle.filter({ hasText: /^typing…$/ }).waitFor();
  await preview.filter({ hasText: /^typing…$/ }).waitFor();
  await screenshot(alice, 'typing');
  // the text cleared: `paused` at once (not only when the 6 s typing lapse runs out)
  await box.fill('');
  await subtitle.filter({ hasNotText: 'typing…' }).waitFor();
  await preview.filter({ hasNotText: 'typing…' }).waitFor();
  await box.pressSequentially('ok, here it is', { delay: 30 });
  await subtitle.filter({ hasText: /^typing…$/ }).waitFor();
  await box.press('Enter');
  await message(alice, 'ok, here it is').waitFor();
  await subtitle.filter({ hasNotText: 'typing…' }).waitFor();
  await expect(preview.textContent()).resolves.toBe('ok, here it is');
  expect(pageErrors(alice)).toEqual([]);
  expect(pageErrors(bob)).toEqual([]);
});

it('messages typed quickly go out pipelined (pending ticks, several in flight) and arrive in the order typed, without layout shift', async () => {
  await openChat(alice, 'Bob');
  await openChat(bob, 'Alice');
  // layout shifts of what is already on screen in Bob's message list while the burst arrives
  await bob.evaluate(() => {
    const w = window as unknown as { shifts: number[] };
    w.shifts = [];
    type Shift = PerformanceEntry & { value: number; hadRecentInput: boolean; sources?: { node?: Node }[] };
    new PerformanceObserver((list) => {
      const log = document.querySelector('.messages');
      for (const e of list.getEntries() as Shift[]) if (!e.hadRecentInput && e.sources?.some((x) => x.node && log?.contains(x.node))) w.shifts.push(e.value);
    }).observe({ type: 'layout-shift' });
  });
  const texts = Array.from({ length: 12 }, (_, i) => `quick ${String(i + 1).padStart(2, '0')}`);
  // Typed and sent with Enter faster than any reply can come back: all in one task of the page.
  await alice.evaluate((texts) => {
    const w = window as unknown as { maxPending: number };
    w.maxPending = 0;
    const log = document.querySelector('.messages')!;
    new MutationObserver(() => {
      w.maxPending = Math.max(w.maxPending, log.querySelectorAll('.bubble.pending[data-status="pending"] .tick.pending').length);
    }).observe(log, { childList: true, subtree: true, attributes: true });
    const box = document.querySelector<HTMLTextAreaElement>('.composer textarea')!;
    for (const t of texts) {
      box.value = t;
      box.dispatchEvent(new Event('input', { bubbles: true }));
      box.dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter', bubbles: true, cancelable: true }));
    }
  }, texts);
  await alice.waitForFunction(() => (window as unknown as { parley: { outbox: unknown[] } }).parley.outbox.length === 0);
  const { maxPending, maxInflight } = await alice.evaluate(() => {
    const w = window as unknown as { maxPending: number; parley: { maxInflight: number } };
    return { maxPending: w.maxPending, maxInflight: w.parley.maxInflight };
  });
  expect(maxPending).toBe(texts.length); // each showed its pending tick (🕓) at once
  expect(maxInflight).toBeGreaterThan(1); // not one at a time
  await message(bob, texts[texts.length - 1]!).waitFor();
  for (const p of [alice, bob]) {
    const shown = await p.$$eval('.messages [data-seq]', (els) =>
      els.map((e) => ({ seq: Number(e.getAttribute('data-seq')), text: e.querySelector('.text')?.textContent ?? '' })).filter((m) => m.text.startsWith('quick ')),
    );
    expect(shown.map((m) => m.text)).toEqual(texts);
    // consecutive seqs: nothing else got in between, nothing twice
    expect(shown.map((m) => m.seq - shown[0]!.seq)).toEqual(texts.map((_, i) => i));
  }
  for (const t of texts) await message(alice, t).locator('.tick.read').waitFor();
  const shifts = await bob.evaluate(() => (window as unknown as { shifts: number[] }).shifts);
  expect(shifts.reduce((a, b) => a + b, 0)).toBeLessThan(0.001);
  expect(pageErrors(alice)).toEqual([]);
});

it('media: attach a photo (straight to the presigned URL, with progress), thumbnail on the other side, click to open', async () => {
  await openChat(alice, 'Bob');
  await openChat(bob, 'Alice');
  const photo = join(repoRoot(), 'web', 'test', 'fixtures', 'photo.png');
  // the bytes go straight to the object store's presigned URL (not through the gateway), with a progress bar
  const gatewayHost = new URL(mesh.gatewayUrls[0]!).host;
  const uploads: string[] = [];
  const onRequest = (r: { url(): string; method(): string }) => {
    if (['PUT', 'POST'].includes(r.method()) && new URL(r.url()).host !== gatewayHost) uploads.push(`${r.method()} ${new URL(r.url()).host}`);
  };
  alice.on('request', onRequest);
  await alice.evaluate(() => {
    const w = window as unknown as { sawProgress: boolean };
    w.sawProgress = false;
    new MutationObserver(() => {
      if (document.querySelector('.composer-wrap progress.upload[aria-label="Uploading attachment"]')) w.sawProgress = true;
    }).observe(document.body, { childList: true, subtree: true });
  });
  await alice.getByLabel('Message', { exact: true }).fill('the view from here');
  await alice.locator('.composer input[type=file]').setInputFiles(photo);
  const bubble = message(bob, 'the view from here');
  await bubble.waitFor({ timeout: 30_000 });
  alice.off('request', onRequest);
  expect(uploads).toHaveLength(1);
  expect(await alice.evaluate(() => (window as unknown as { sawProgress: boolean }).sawProgress)).toBe(true);
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

it('a group of three: create, rename, roles, remove and add a member, group typing, leave; system messages inline', async () => {
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
  // read by both (their receipts may come coalesced in one `receipts` frame): ✓✓ read only then
  await message(alice, 'Who is in for Saturday?').locator('.tick.read').waitFor();
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

  await sendText(alice, 'Carol cannot see this');
  await message(bob, 'Carol cannot see this').waitFor();

  // add her back: she sees that, and nothing that was sent while she was out (delivered in seq order, so once
  // the later "added you" is there, the earlier message would have been too)
  await info.getByLabel('Add member (username)').fill(users.carol);
  await info.getByRole('button', { name: 'Add', exact: true }).click();
  await message(carol, 'added you').waitFor();
  await message(bob, 'added Carol').waitFor();
  expect(await message(carol, 'Carol cannot see this').count()).toBe(0);
  await carol.getByLabel('Message', { exact: true }).waitFor();
  expect(await carol.getByText('You are no longer a member of this group.').count()).toBe(0);
  await expect(info.locator('.members li').count()).resolves.toBe(3);
  await info.getByRole('button', { name: 'Close group info' }).click();

  // typing in a group names the typist
  await carol.getByLabel('Message', { exact: true }).pressSequentially('I am back', { delay: 30 });
  await alice.getByTestId('chat-subtitle').filter({ hasText: 'Carol is typing…' }).waitFor();
  await carol.getByLabel('Message', { exact: true }).press('Enter');
  await message(alice, 'I am back').waitFor();
  await alice.getByTestId('chat-subtitle').filter({ hasText: /^3 members$/ }).waitFor();

  // Bob leaves: a system line for the others, the "no longer a member" note for him, and he gets nothing after
  await bob.getByRole('button', { name: 'Group info' }).click();
  await bob.getByRole('dialog', { name: 'Group info' }).getByRole('button', { name: 'Leave group' }).click();
  await bob.getByText('You are no longer a member of this group.').waitFor();
  await message(bob, 'You left').waitFor();
  await message(alice, 'Bob left').waitFor();
  await message(carol, 'Bob left').waitFor();
  await alice.getByTestId('chat-subtitle').filter({ hasText: /^2 members$/ }).waitFor();
  await bob.getByRole('dialog', { name: 'Group info' }).waitFor({ state: 'detached' });
  await sendText(alice, 'just the two of us');
  await message(carol, 'just the two of us').waitFor();
  expect(await message(bob, 'just the two of us').count()).toBe(0);
  for (const p of [alice, bob, carol]) expect(pageErrors(p)).toEqual([]);
});

it('history pages in when scrolling up, in seq order, without gaps', async () => {
  const http = new ParleyHttp(mesh.gatewayUrls[0]!);
  const carolTokens = await http.login({ username: users.carol, password: PASSWORD });
  const carolNode = await connect(mesh.wsUrls[1]!, carolTokens.accessToken);
  const bobId = (await http.withToken(carolTokens.accessToken).findUser(users.bob)).userId;
  const { chat } = await carolNode.request('chat.create', { type: 'direct', userId: bobId });
  for (let i = 1; i <= 70; i++) {
    await nodeSend(carolNode, { chatId: chat.chatId, clientMsgId: `hist-${i}-${chat.chatId.slice(0, 8)}`, body: { text: `history ${i}` } });
  }
  await carolNode.close();
  // Bob got them live; after a reload the page holds only the latest page of each chat
  await bob.locator('.chat-item .chat-preview', { hasText: 'history 70' }).waitFor();
  // acks are batched every 100 ms; acked messages are not redelivered
  await bob.waitForFunction(() => (window as unknown as { parley: { acksSettled: boolean } }).parley.acksSettled);
  await bob.reload();
  await waitOnline(bob);
  await openChat(bob, 'Carol');
  await message(bob, 'history 70').waitFor();
  const first = await shownSeqs(bob);
  expect(first[0]).toBeGreaterThan(1);
  const list = bob.getByRole('log', { name: 'Messages' });
  const lowest = () => bob.evaluate(() => Number(document.querySelector('.messages [data-seq]')?.getAttribute('data-seq')));
  // each scroll to the top loads one older page (the view stays still, so scroll up again)
  for (let low = first[0]!; low > 1; ) {
    await list.evaluate((el) => (el.scrollTop = 0));
    await bob.waitForFunction((prev) => Number(document.querySelector('.messages [data-seq]')?.getAttribute('data-seq')) < prev, low);
    low = await lowest();
  }
  const all = await shownSeqs(bob);
  expect(all[0]).toBe(1);
  expect(all).toEqual(Array.from({ length: all.length }, (_, i) => i + 1));
  expect(all.length).toBe(71); // the chat's system message + 70
  await bob.getByText('Scroll up for older messages').waitFor({ state: 'detached' });

  // scrolled up, a new message arrives: what is on screen does not move
  const top = () => bob.locator('.messages [data-seq="2"]').evaluate((el) => Math.round(el.getBoundingClientRect().top));
  const before = await top();
  // (a new login: the 45-second token of the first one may have expired by now)
  const again = await connect(mesh.wsUrls[1]!, (await http.login({ username: users.carol, password: PASSWORD })).accessToken);
  await nodeSend(again, { chatId: chat.chatId, clientMsgId: `hist-71-${chat.chatId.slice(0, 8)}`, body: { text: 'history 71' } });
  await again.close();
  await message(bob, 'history 71').waitFor({ state: 'attached' });
  expect(await top()).toBe(before);
});

it('log out removes this device (its token stops working) and returns to the login form; on a phone via the back button', async () => {
  const token = await carol.evaluate(() => (window as unknown as { parley: { session: { current: { accessToken: string } } } }).parley.session.current.accessToken);
  const http = new ParleyHttp(mesh.gatewayUrls[0]!).withToken(token);
  await expect(http.listDevices()).resolves.toBeDefined();
  // one pane at a time on a phone: back from the conversation to the chat list, where the account actions are
  await carol.getByRole('button', { name: 'Back to chats' }).click();
  // the page forgets the tokens at once and removes the device in the background
  const removed = carol.waitForResponse((r) => r.request().method() === 'DELETE' && r.url().includes('/v1/devices/'));
  await carol.getByRole('button', { name: 'Log out' }).click();
  await carol.getByRole('button', { name: 'Log in' }).waitFor();
  expect((await removed).status()).toBe(204);
  expect(await carol.evaluate(() => localStorage.getItem('parley.session'))).toBeNull();
  await expect(http.listDevices()).rejects.toMatchObject({ status: 401 });
  await logInInPage(carol, users.carol);
  await openChat(carol, 'Saturday hike');
  await message(carol, 'just the two of us').waitFor();
  expect(pageErrors(carol)).toEqual([]);
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

  // Read state across Alice's two browsers: both look at another chat while Bob writes; reading on one
  // clears the unread count on the other, and Bob's tick goes from delivered to read.
  await openChat(alice, 'Saturday hike');
  await openChat(alice2, 'Saturday hike');
  await sendText(bob, 'read me on either of them');
  const mine = message(bob, 'read me on either of them');
  for (const p of [alice, alice2]) {
    await expectAttr(chatItem(p, 'Bob'), 'data-unread', '1');
    // newest activity first
    await expect(p.locator('.chat-item .chat-title').first().textContent()).resolves.toBe('Bob');
  }
  await expectAttr(mine, 'data-status', 'delivered');
  await screenshot(alice2, 'unread');
  await openChat(alice, 'Bob');
  await expectAttr(chatItem(alice2, 'Bob'), 'data-unread', '0');
  await expectAttr(mine, 'data-status', 'read');
  expect(await alice2.locator('.chat-item .badge').count()).toBe(0);

  // remove the second device from the first: it is signed out
  await alice.getByRole('button', { name: 'Devices' }).click();
  const dialog = alice.getByRole('dialog', { name: 'Your devices' });
  await dialog.locator('li').nth(1).waitFor();
  await screenshot(alice, 'devices');
  // keyboard: the dialog takes the focus, and Escape closes it (the focus goes back to what opened it)
  await expect(alice.evaluate(() => document.activeElement?.getAttribute('aria-label'))).resolves.toBe('Close devices');
  await alice.keyboard.press('Escape');
  await dialog.waitFor({ state: 'detached' });
  await alice.waitForFunction(() => document.activeElement?.textContent === 'Devices', undefined, { timeout: 5000 });
  await alice.getByRole('button', { name: 'Devices' }).click();
  await dialog.locator('li').nth(1).waitFor();
  await dialog.locator('li', { hasNotText: 'this device' }).getByRole('button', { name: /Remove/ }).click();
  await alice2.getByRole('button', { name: 'Log in' }).waitFor({ timeout: 20_000 });
  await expect(alice2.getByRole('alert').textContent()).resolves.toMatch(/signed out|removed/);
  await dialog.locator('li').nth(1).waitFor({ state: 'detached' });
  await alice.getByRole('button', { name: 'Close devices' }).click();
});

it('presence: the header shows "online", then "last seen" when the other user loses the network, and "online" again when it is back', async () => {
  await openChat(alice, 'Bob');
  await openChat(bob, 'Alice');
  const subtitle = alice.getByTestId('chat-subtitle');
  await subtitle.filter({ hasText: /^online$/ }).waitFor();
  // Bob's browser goes offline: his page drops the socket and shows "Connecting…" while it retries
  await bob.context().setOffline(true);
  await bob.locator('.conn-banner[data-state="connecting"]').waitFor({ state: 'attached' });
  await expect(bob.locator('.conn-banner').textContent()).resolves.toBe('Connecting…');
  await subtitle.filter({ hasText: /^last seen today at \d\d:\d\d$/ }).waitFor({ timeout: 45_000 });
  await screenshot(alice, 'last-seen');
  // what Alice sends meanwhile waits in Bob's inbox
  await sendText(alice, 'are you there?');
  await bob.context().setOffline(false);
  await waitOnline(bob, 30_000);
  await subtitle.filter({ hasText: /^online$/ }).waitFor();
  await message(bob, 'are you there?').waitFor();
  expect(pageErrors(alice)).toEqual([]);
  expect(pageErrors(bob)).toEqual([]);
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
  await nodeSend(bobNode, { chatId, clientMsgId: `node-${Date.now()}`, body: { text: 'sent by Bob during the outage' } });
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

it('with the presence service down the page shows no presence, typing or read ticks and no error; once it is back, all of them work again', async () => {
  await mesh.kill('presence', 'SIGTERM');
  await alice.reload();
  await waitOnline(alice);
  await alice.waitForFunction(() => (window as unknown as { parley: { presenceAvailable?: boolean } }).parley.presenceAvailable === false);
  await openChat(alice, 'Bob');
  await openChat(bob, 'Alice');
  await expect(alice.getByTestId('chat-subtitle').textContent()).resolves.toBe('');
  await bob.getByLabel('Message', { exact: true }).pressSequentially('are you', { delay: 30 });
  await sendText(alice, 'sent while presence is down');
  await message(bob, 'sent while presence is down').waitFor();
  // Bob has the chat open and read it, but receipts go out through presence: the tick stays at "sent"
  await bob.waitForFunction(() => (window as unknown as { parley: { acksSettled: boolean } }).parley.acksSettled);
  await expectAttr(message(alice, 'sent while presence is down'), 'data-status', 'sent');
  expect(await alice.getByTestId('chat-subtitle').textContent()).toBe('');
  expect(await alice.getByRole('alert').count()).toBe(0);
  await bob.getByLabel('Message', { exact: true }).fill('');

  await mesh.start('presence');
  // the page subscribes again by itself (backoff up to 30 s); the receipts waiting in Kafka arrive
  await alice.getByTestId('chat-subtitle').filter({ hasText: /^online$/ }).waitFor({ timeout: 60_000 });
  await message(alice, 'sent while presence is down').locator('.tick.read').waitFor({ timeout: 60_000 });
  await bob.getByLabel('Message', { exact: true }).pressSequentially('yes', { delay: 30 });
  await alice.getByTestId('chat-subtitle').filter({ hasText: /^typing…$/ }).waitFor();
  expect(pageErrors(alice)).toEqual([]);
  expect(pageErrors(bob)).toEqual([]);
});

/** A send from the Node client, retried with the same clientMsgId (idempotent) while it answers `unavailable`. */
async function nodeSend(conn: ParleyConnection, req: { chatId: string; clientMsgId: string; body: { text: string } }): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await conn.request('message.send', req);
      return;
    } catch (err) {
      if ((err as { code?: string }).code !== 'unavailable' || attempt >= 5) throw err;
      await new Promise((r) => setTimeout(r, (err as { retryAfterMs?: number }).retryAfterMs ?? 500));
    }
  }
}

function chatItem(p: Page, title: string) {
  return p.locator('.chat-item', { has: p.locator('.chat-title', { hasText: title }) });
}

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
