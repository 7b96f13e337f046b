// Push through the whole mesh: devices register over the gateways, messages are sent over the gateways, and
// the local fake providers (which verify OAuth/JWTs/VAPID/aes128gcm/HMAC like the real ones) receive them.
import { ParleyHttp, ParleyRequestError, type Chat } from '@parley/client';
import { createKafka, createLogger, nsTopic, TOPICS } from '@parley/kit';
import type { Received } from '@parley/testing';
import { chatMesh, Device, newUser, sleep, type Mesh, type User } from '../chat/helpers.js';

const WINDOW_MS = 2000;
let mesh: Mesh;
let alice: User;
let bob: User;
let a: Device;
beforeAll(async () => {
  mesh = await chatMesh({ PUSH_COLLAPSE_WINDOW: `${WINDOW_MS}ms`, PUSH_RETRY_BASE: '100ms', PUSH_RETRY_MAX: '3s' });
  alice = await newUser(mesh, 'alice');
  bob = await newUser(mesh, 'bob');
  a = new Device(mesh, alice, 'alice-1');
  await a.connect(0);
});
afterAll(async () => {
  await a?.disconnect();
  await mesh?.stop();
});

const fakes = () => mesh.pushFakes!;
let clientMsg = 0;
const send = (chatId: string, body: { text?: string; ciphertext?: string }) =>
  a.c.request('message.send', { chatId, clientMsgId: `push-e2e-${Date.now()}-${++clientMsg}`, body });

/** A device of bob that registers a push token while connected, then goes offline. */
async function offlineDevice(platform: 'fcm' | 'apns' | 'webpush' | 'webhook', token: string): Promise<Device> {
  const d = new Device(mesh, bob, `bob-${platform}`);
  await d.connect(1);
  await d.c.request('push.register', { platform, token });
  await d.disconnect();
  return d;
}

const group = async (name: string): Promise<Chat> => (await a.c.request('chat.create', { type: 'group', name, members: [bob.userId] })).chat;
const ofChat = (rs: Received[], chatId: string) =>
  rs.filter((r) => {
    const p = r.payload as { chatId?: string; data?: { chatId?: string } };
    return (p.chatId ?? p.data?.chatId) === chatId;
  });

async function pushMetric(name: string, labels: Record<string, string> = {}): Promise<number> {
  const url = mesh.readyUrl('push')!.replace('/readyz', '/metrics');
  const text = await (await fetch(url)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)(\{[^}]*\})? ([0-9.e+-]+)$/.exec(line);
    if (m && m[1] === name && Object.entries(labels).every(([k, v]) => (m[2] ?? '').includes(`${k}="${v}"`))) sum += Number(m[3]);
  }
  return sum;
}

/** True when push's request consumer has committed every push request produced so far. */
async function requestsCommitted(): Promise<boolean> {
  const env = mesh.envOf('push')!;
  const ns = env.PARLEY_NAMESPACE ?? '';
  const topic = nsTopic(ns, TOPICS.pushRequests);
  const admin = createKafka({ brokers: env.PARLEY_KAFKA_BROKERS!.split(','), clientId: 'e2e-push', logger: createLogger('e2e-push', 'warn') }).admin();
  await admin.connect();
  try {
    const ends = await admin.fetchTopicOffsets(topic);
    const [group] = await admin.fetchOffsets({ groupId: nsTopic(ns, 'push-sender'), topics: [topic] });
    const committed = new Map((group?.partitions ?? []).map((p) => [p.partition, BigInt(p.offset)]));
    return ends.every((e) => BigInt(e.high) === 0n || (committed.get(e.partition) ?? -1n) >= BigInt(e.high));
  } finally {
    await admin.disconnect();
  }
}

async function until(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

describe('push through the gateways', () => {
  it('offline devices get exactly one notification per collapse window on every platform; the online device none', async () => {
    const hook = fakes().webhookUrl();
    const sub = fakes().webPushSubscription();
    const fcm = fakes().fcmToken();
    const apns = fakes().apnsToken();
    await offlineDevice('webhook', hook.token);
    await offlineDevice('webpush', sub.token);
    await offlineDevice('fcm', fcm);
    await offlineDevice('apns', apns);
    // An online device with a registration: it is connected, so it gets the message live and no push.
    const onlineHook = fakes().webhookUrl();
    const online = new Device(mesh, bob, 'bob-online');
    await online.connect(1);
    await online.c.request('push.register', { platform: 'webhook', token: onlineHook.token });

    const chat = await group('push e2e');
    // A burst of 8 messages well inside one window.
    const seqs: number[] = [];
    for (let i = 1; i <= 8; i++) seqs.push((await send(chat.chatId, { text: `hi bob ${i}` })).seq);
    const last = seqs[seqs.length - 1]!;
    await online.waitForSeqs(chat.chatId, seqs);

    const keys: Array<[Parameters<ReturnType<typeof fakes>['of']>[0], string]> = [['webhook', hook.id], ['webpush', sub.id], ['fcm', fcm], ['apns', apns]];
    await until(() => keys.every(([p, k]) => ofChat(fakes().of(p, k), chat.chatId).length >= 2), 30_000, 'two notifications on every platform');
    await sleep(WINDOW_MS * 2); // nothing more may come
    for (const [p, k] of keys) {
      const got = ofChat(fakes().of(p, k), chat.chatId);
      const what = (r: Received) => {
        const x = r.payload as { seq?: number; badge?: number; data?: { seq: string; badge: string }; aps?: { badge: number } };
        return `seq ${x.seq ?? x.data?.seq} badge ${x.badge ?? x.data?.badge ?? x.aps?.badge}`;
      };
      expect([p, got.length, got.map(what)]).toEqual([p, 2, got.slice(0, 2).map(what)]);
      // The window opens when the first notification is handed to the provider; its receipt can lag by a first
      // TLS handshake or OAuth exchange, so the gap between receipts is a little under the window at worst.
      expect(got[1]!.at - got[0]!.at).toBeGreaterThanOrEqual(WINDOW_MS / 2);
    }
    // Content: the sender's name and the text; the badge counts the burst.
    const [w1, w2] = ofChat(fakes().of('webhook', hook.id), chat.chatId);
    expect(w1!.payload).toMatchObject({ chatId: chat.chatId, seq: seqs[0], badge: 1, title: alice.username, body: 'hi bob 1' });
    expect(w2!.payload).toMatchObject({ chatId: chat.chatId, seq: last, badge: 8, body: 'hi bob 8' });
    expect(ofChat(fakes().of('webpush', sub.id), chat.chatId)[1]!.payload).toMatchObject({ seq: last, badge: 8, title: alice.username, body: 'hi bob 8' });
    const f2 = ofChat(fakes().of('fcm', fcm), chat.chatId)[1]!.payload as { notification: unknown; data: Record<string, string> };
    expect(f2.notification).toEqual({ title: alice.username, body: 'hi bob 8' });
    expect(f2.data).toMatchObject({ seq: String(last), badge: '8' });
    const a2 = ofChat(fakes().of('apns', apns), chat.chatId)[1]!.payload as { aps: Record<string, unknown> };
    expect(a2.aps).toMatchObject({ alert: { title: alice.username, body: 'hi bob 8' }, badge: 8 });
    // The online device: nothing.
    expect(fakes().of('webhook', onlineHook.id)).toHaveLength(0);
    await online.disconnect();
  });

  it('ciphertext bodies carry no content, only "New message" and the chatId', async () => {
    const sub = fakes().webPushSubscription();
    await offlineDevice('webpush', sub.token);
    const chat = await group('secret');
    await send(chat.chatId, { ciphertext: Buffer.from('opaque bytes').toString('base64') });
    await until(() => ofChat(fakes().of('webpush', sub.id), chat.chatId).length === 1, 20_000, 'web push');
    const p = ofChat(fakes().of('webpush', sub.id), chat.chatId)[0]!.payload;
    expect(p).toEqual({ id: expect.any(String), chatId: chat.chatId, seq: expect.any(Number), badge: 1, title: 'New message' });
  });

  it('a 410 removes the registration; a 429 is retried after Retry-After', async () => {
    const dead = fakes().webPushSubscription();
    await offlineDevice('webpush', dead.token);
    fakes().kill('webpush', dead.id);
    const slow = fakes().webhookUrl();
    await offlineDevice('webhook', slow.token);
    fakes().script('webhook', slow.id, [{ status: 429, retryAfterS: 2 }]);
    const chat = await group('failures');
    await send(chat.chatId, { text: 'one' });
    await until(() => fakes().of('webhook', slow.id).length === 1, 30_000, 'the retried webhook');
    const tries = fakes().attempts.filter((t) => t.key === slow.id);
    expect(tries.map((t) => t.status)).toEqual([429, 200]);
    expect(tries[1]!.at - tries[0]!.at).toBeGreaterThanOrEqual(1900);
    await until(() => fakes().attempts.some((t) => t.key === dead.id && t.status === 410), 20_000, 'the 410');
    // A later message in another chat: the dead subscription is never tried again.
    const chat2 = await group('after 410');
    await send(chat2.chatId, { text: 'two' });
    await until(() => ofChat(fakes().of('webhook', slow.id), chat2.chatId).length === 1, 20_000, 'the next webhook');
    await sleep(500);
    expect(fakes().attempts.filter((t) => t.key === dead.id)).toHaveLength(1);
  });

  it('removing a device removes its registration; push.unregister too', async () => {
    const hook = fakes().webhookUrl();
    const d = await offlineDevice('webhook', hook.token);
    const hook2 = fakes().webhookUrl();
    const d2 = await offlineDevice('webhook', hook2.token);
    await d2.connect(0);
    await d2.c.request('push.unregister', {});
    await d2.disconnect();
    const login = await new ParleyHttp(mesh.gatewayUrls[0]!).login({ username: bob.username, password: bob.password });
    await new ParleyHttp(mesh.gatewayUrls[0]!, login.accessToken).removeDevice(d.deviceId);
    const before = await pushMetric('parley_push_skipped_total', { reason: 'no_registration' });
    await sleep(1500); // session.events.v1 → push
    const chat = await group('removed');
    await send(chat.chatId, { text: 'anyone?' });
    await until(async () => (await pushMetric('parley_push_skipped_total', { reason: 'no_registration' })) >= before + 2, 20_000, 'two skipped');
    expect(fakes().of('webhook', hook.id)).toHaveLength(0);
    expect(fakes().of('webhook', hook2.id)).toHaveLength(0);
  });

  it('bad input is bad_request naming the field; the VAPID key is served', async () => {
    const bad = async (data: unknown): Promise<string> => {
      try {
        await a.c.request('push.register', data as never);
      } catch (err) {
        expect(err).toBeInstanceOf(ParleyRequestError);
        expect((err as ParleyRequestError).code).toBe('bad_request');
        return (err as ParleyRequestError).message;
      }
      throw new Error('accepted');
    };
    expect(await bad({ platform: 'sms', token: 'x' })).toMatch(/platform/);
    expect(await bad({ platform: 'fcm', token: '' })).toMatch(/token/);
    expect(await bad({ platform: 'fcm', token: 'x'.repeat(4097) })).toMatch(/token/);
    expect(await bad({ platform: 'webpush', token: '{"endpoint":1}' })).toMatch(/token\.endpoint/);
    expect(await bad({ platform: 'webpush', token: 'not json' })).toMatch(/token/);
    expect(await bad({ platform: 'webhook', token: 'https://10.0.0.7/hook' })).toMatch(/token/);
    const res = await fetch(`${mesh.gatewayUrls[1]}/v1/push/vapid-public-key`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ publicKey: fakes().env.PUSH_VAPID_PUBLIC_KEY });
  });

  it('kill -9 of push mid-burst loses no notification for acked messages', async () => {
    const hook = fakes().webhookUrl();
    await offlineDevice('webhook', hook.token);
    const chats = await Promise.all([1, 2, 3, 4, 5, 6].map((i) => group(`crash ${i}`)));
    const lastSeq = new Map<string, number>();
    const sendRound = async (round: number) => {
      for (const c of chats) lastSeq.set(c.chatId, (await send(c.chatId, { text: `r${round}` })).seq);
    };
    await sendRound(1);
    await sendRound(2);
    await mesh.kill('push', 'SIGKILL');
    await sendRound(3);
    await sendRound(4);
    await mesh.start('push');
    await sendRound(5);
    const covered = (chatId: string) =>
      Math.max(0, ...ofChat(fakes().of('webhook', hook.id), chatId).map((r) => Number((r.payload as { seq: number }).seq)));
    await until(() => chats.every((c) => covered(c.chatId) >= lastSeq.get(c.chatId)!), 90_000, 'every chat notified up to its last acked seq');
  });

  it('kill -9 while a 429 retry waits: the notification arrives after the restart, from push.retry.v1, no sooner than Retry-After', async () => {
    const hook = fakes().webhookUrl();
    await offlineDevice('webhook', hook.token);
    // Longer than push takes to rejoin its consumer groups after a kill -9 (the dead member's session must
    // time out first): a redelivered request would be sent at once, sooner than this.
    fakes().script('webhook', hook.id, [{ status: 429, retryAfterS: 20 }]);
    const deferredBefore = await pushMetric('parley_push_results_total', { result: 'deferred' });
    const chat = await group('retry across a crash');
    const { seq } = await send(chat.chatId, { text: 'still there?' });
    await until(async () => (await pushMetric('parley_push_results_total', { result: 'deferred' })) > deferredBefore, 30_000, 'the retry stored');
    const at429 = fakes().attempts.find((t) => t.key === hook.id && t.status === 429)!.at;
    // Settled: the request's offset is committed, so after the kill only push.retry.v1 still has it.
    await until(requestsCommitted, 10_000, 'the push request committed');
    await mesh.kill('push', 'SIGKILL');
    await mesh.start('push');
    await until(() => fakes().of('webhook', hook.id).length === 1, 90_000, 'the retried notification');
    const got = fakes().of('webhook', hook.id)[0]!;
    expect(got.payload).toMatchObject({ chatId: chat.chatId, seq, title: alice.username, body: 'still there?' });
    expect(got.at - at429).toBeGreaterThanOrEqual(19_900);
    expect(await pushMetric('parley_push_retries_resumed_total', { provider: 'webhook' })).toBeGreaterThanOrEqual(1);
    await sleep(1000);
    expect(fakes().attempts.filter((t) => t.key === hook.id).map((t) => t.status)).toEqual([429, 200]);
  });
});
