// A connected device does not miss a live message when its gateway's delivery subscription drops (issue 15):
// Redis pub/sub keeps nothing for a subscriber that is away, so the gateway resynchronises its connected
// devices from their cursors once the subscription is back. Test: under a steady stream into a group, the
// Redis connection that carries gateway 1's deliveries is killed three times (CLIENT KILL, only that one);
// gateway 1 demonstrably received fewer deliveries than were sent, yet every device on it has every message,
// on the connection it opened at the start (no reconnect).
// The client library's side of the same guarantee (packages/client gaps.ts): a delivery lost on the way to the
// app (one the gateway cannot know about) shows as a seq gap, and the GapFiller fetches it from the real
// gateway's history.
import { GapFiller, ParleyRequestError, type Message, type ParleyConnection } from '@parley/client';
import { Redis } from '@parley/kit';
import { infraSettings } from '@parley/testing';
import { Device, chatMesh, clientMsgId, newUsers, sleep, text, type Mesh } from './helpers.js';

let mesh: Mesh;
let redis: Redis;

beforeAll(async () => {
  mesh = await chatMesh();
  redis = new Redis(infraSettings().redis.url);
});
afterAll(async () => {
  redis?.disconnect();
  await mesh?.stop();
});

async function metric(url: string, re: RegExp): Promise<number> {
  const m = re.exec(await (await fetch(`${url}/metrics`)).text());
  return m ? Number(m[1]) : 0;
}

/** A send retried with the same clientMsgId until acked (a loaded box may time one out): its seq. */
async function sendAcked(c: ParleyConnection, chatId: string, body: string): Promise<number> {
  const cm = clientMsgId('gap');
  for (let attempt = 0; ; attempt++) {
    try {
      return (await c.request('message.send', { chatId, clientMsgId: cm, body: text(body) }, { timeoutMs: 15_000 })).seq;
    } catch (e) {
      if (attempt >= 5 || !(e instanceof ParleyRequestError) || !['unavailable', 'timeout'].includes(e.code)) throw e;
      await sleep(e.retryAfterMs ?? 500);
    }
  }
}

/** Kills the Redis connection gateway `gw` subscribes its delivery channels on (its client name names its instance). */
async function killDeliverySubscription(gw: number): Promise<number> {
  const name = `gateway-deliveries:${mesh.envOf(`gateway-${gw}`)!.GATEWAY_INSTANCE_ID}`;
  const list = (await redis.call('CLIENT', 'LIST', 'TYPE', 'pubsub')) as string;
  const ids = list
    .split('\n')
    .filter((l) => l.split(' ').includes(`name=${name}`))
    .map((l) => /(?:^| )id=(\d+)/.exec(l)![1]!);
  for (const id of ids) await redis.call('CLIENT', 'KILL', 'ID', id);
  return ids.length;
}

test('three subscription drops under load: every device on that gateway gets every message without reconnecting', async () => {
  const [sender, ...others] = await newUsers(mesh, 5, 'gap');
  const tx = new Device(mesh, sender!, 'sender');
  await tx.connect(0);
  // Three receivers on gateway 1 (the one whose subscription drops), one on gateway 0 (untouched).
  const rx = others.map((u, i) => new Device(mesh, u, `rx${i}`));
  for (let i = 0; i < rx.length; i++) await rx[i]!.connect(i < 3 ? 1 : 0);
  for (const d of rx) await d.waitDrained();
  const chatId = (await tx.c.request('chat.create', { type: 'group', name: 'gap', members: others.map((u) => u.userId) })).chat.chatId;
  const gw1 = mesh.gatewayUrls[1]!;
  const deliveriesRe = /parley_gateway_deliveries_total\{[^}]*payload="message"[^}]*\} (\d+)/;
  const delivered0 = await metric(gw1, deliveriesRe);
  const resyncs0 = await metric(gw1, /parley_gateway_resyncs_total\{[^}]*\} (\d+)/);

  const N = 150;
  const seqs: number[] = [];
  let killed = 0;
  for (let i = 0; i < N; i++) {
    seqs.push(await sendAcked(tx.c, chatId, `m${i}`));
    if (i === 25 || i === 75 || i === 125) killed += await killDeliverySubscription(1);
    await sleep(20);
  }
  expect(killed).toBe(3);

  for (const d of rx) await d.waitForSeqs(chatId, seqs, 30_000);
  for (const d of rx) {
    expect([d.name, d.connectionNumber, d.c.isOpen]).toEqual([d.name, 1, true]);
    expect(d.seqs(chatId).filter((s) => seqs.includes(s))).toEqual(seqs);
  }
  // The gaps were real: gateway 1 missed deliveries on the live path, and resynchronised after them.
  const delivered = (await metric(gw1, deliveriesRe)) - delivered0;
  expect(delivered).toBeLessThan(N);
  expect((await metric(gw1, /parley_gateway_resyncs_total\{[^}]*\} (\d+)/)) - resyncs0).toBeGreaterThanOrEqual(1);
}, 180_000);

test('the client library notices a seq gap in live deliveries and fetches what is missing', async () => {
  const [a, b] = await newUsers(mesh, 2, 'cgap');
  const tx = new Device(mesh, a!, 'tx');
  const rx = new Device(mesh, b!, 'rx');
  await tx.connect(0);
  const conn = await rx.connect(1);
  await rx.waitDrained();
  const chatId = (await tx.c.request('chat.create', { type: 'direct', userId: b!.userId })).chat.chatId;

  const recovered: Message[] = [];
  const app = new Map<number, Message>();
  const filler = new GapFiller(
    async (chat, afterSeq, limit) => conn.request('message.history', { chatId: chat, afterSeq, limit }),
    (msgs) => {
      recovered.push(...msgs);
      for (const m of msgs) app.set(m.seq, m);
    },
    { graceMs: 300 },
  );
  // The app's feed: every live message but the ones "lost on the way" (dropped before the app saw them).
  const dropped = new Set<number>();
  let live = 0;
  conn.on('message.new', (d) => {
    if (d.message.chatId !== chatId) return;
    live++;
    if (live === 3 || live === 4 || live === 7) {
      dropped.add(d.message.seq);
      return;
    }
    app.set(d.message.seq, d.message);
    filler.received(d.message);
  });

  const seqs: number[] = [];
  for (let i = 0; i < 10; i++) seqs.push(await sendAcked(tx.c, chatId, `c${i}`));
  const t0 = Date.now();
  while (!seqs.every((s) => app.has(s)) && Date.now() - t0 < 15_000) await sleep(50);
  filler.close();

  expect(dropped.size).toBe(3);
  expect(seqs.filter((s) => app.has(s))).toEqual(seqs);
  expect(recovered.map((m) => m.seq).sort((x, y) => x - y)).toEqual([...dropped].sort((x, y) => x - y));
  // What was fetched is the real stored message, not a placeholder.
  for (const m of recovered) expect(m.body).toEqual(rx.messages.get(chatId)!.get(m.seq)!.body);
  expect(filler.stats.recovered).toBe(3);
  expect(filler.stats.givenUp).toBe(0);
}, 120_000);
