// The push service against the real Cassandra and Kafka and the local fake providers (which verify OAuth, the
// ES256/VAPID JWTs, the aes128gcm encryption, the HMAC and the message schemas).
import { ParleyError, fromGrpcError } from '@parley/kit';
import { eventsV1, pushV1 } from '@parley/proto';
import { waitFor } from '@parley/testing';
import { APNS_PROBE_TOKEN } from '../src/adapters/providers/apns.js';
import { FCM_PROBE_TOKEN } from '../src/adapters/providers/fcm.js';
import { startPushHarness, type PushHarness } from './harness.js';

jest.setTimeout(120_000);

let h: PushHarness;
beforeAll(async () => {
  h = await startPushHarness();
});
afterAll(async () => {
  await h?.stop();
});

let n = 0;
const ids = () => {
  n += 1;
  return { userId: `u${n}-${Date.now()}`, deviceId: `d${n}-${Date.now()}`, chatId: `c${n}-${Date.now()}` };
};
const register = (userId: string, deviceId: string, platform: pushV1.Platform, token: string) =>
  h.client.registerPush({ userId, deviceId, platform, token });
const codeOf = async (p: Promise<unknown>): Promise<{ code: string; message: string }> => {
  try {
    await p;
  } catch (err) {
    const e = err instanceof ParleyError ? err : fromGrpcError(err);
    return { code: e.code, message: e.message };
  }
  throw new Error('expected a failure');
};

describe('registration', () => {
  it('rejects bad tokens with bad_request naming the field', async () => {
    const { userId, deviceId } = ids();
    expect(await codeOf(register(userId, deviceId, pushV1.Platform.UNSPECIFIED, 'x'))).toMatchObject({ code: 'bad_request', message: expect.stringContaining('platform') });
    expect(await codeOf(register(userId, deviceId, pushV1.Platform.FCM, ''))).toMatchObject({ code: 'bad_request', message: expect.stringContaining('token') });
    expect(await codeOf(register(userId, deviceId, pushV1.Platform.FCM, 'a'.repeat(4097)))).toMatchObject({ code: 'bad_request', message: expect.stringContaining('4096') });
    expect(await codeOf(register(userId, deviceId, pushV1.Platform.WEBPUSH, '{not json'))).toMatchObject({ code: 'bad_request', message: expect.stringContaining('token') });
    const sub = JSON.parse(h.fakes.webPushSubscription().token) as { endpoint: string; keys: { p256dh: string; auth: string } };
    expect(await codeOf(register(userId, deviceId, pushV1.Platform.WEBPUSH, JSON.stringify({ ...sub, keys: { auth: sub.keys.auth } })))).toMatchObject({
      code: 'bad_request',
      message: expect.stringContaining('token.keys.p256dh'),
    });
    expect(await codeOf(register(userId, deviceId, pushV1.Platform.WEBPUSH, JSON.stringify({ ...sub, endpoint: 'http://example.com/x' })))).toMatchObject({
      code: 'bad_request',
      message: expect.stringContaining('token.endpoint'),
    });
    // SSRF: private and link-local destinations are refused (loopback is allow-listed for the fakes).
    for (const url of ['https://10.0.0.1/hook', 'https://169.254.169.254/latest', 'https://192.168.1.1/x', 'https://[fe80::1]/x', 'http://127.0.0.1/x'])
      expect(await codeOf(register(userId, deviceId, pushV1.Platform.WEBHOOK, url))).toMatchObject({ code: 'bad_request', message: expect.stringContaining('token') });
    expect(await codeOf(register(userId, deviceId, pushV1.Platform.APNS, 'not-hex'))).toMatchObject({ code: 'bad_request' });
  });

  it('serves the VAPID public key', async () => {
    expect((await h.client.getVapidPublicKey({})).publicKey).toBe(h.fakes.env.PUSH_VAPID_PUBLIC_KEY);
  });
});

describe('delivery through every provider', () => {
  it('webhook: one signed POST with the preview; collapse holds the burst into one more with the badge', async () => {
    const { userId, deviceId, chatId } = ids();
    const hook = h.fakes.webhookUrl();
    await register(userId, deviceId, pushV1.Platform.WEBHOOK, hook.token);
    await h.produce([1n, 2n, 3n, 4n, 5n].map((seq) => ({ userId, deviceId, chatId, seq })));
    await waitFor(() => h.fakes.of('webhook', hook.id).length >= 2, { timeoutMs: 20_000 });
    await new Promise((r) => setTimeout(r, 3500)); // a further window: nothing more may come
    const got = h.fakes.of('webhook', hook.id);
    expect(got).toHaveLength(2);
    expect(got[0]!.payload).toMatchObject({ chatId, seq: 1, badge: 1, title: 'New message', body: 'hello 1' });
    expect(got[1]!.payload).toMatchObject({ chatId, seq: 5, badge: 5 });
    expect(got[1]!.at - got[0]!.at).toBeGreaterThanOrEqual(1500);
  });

  it('web push: VAPID-signed, aes128gcm-encrypted payload that the subscription key decrypts', async () => {
    const { userId, deviceId, chatId } = ids();
    const sub = h.fakes.webPushSubscription();
    await register(userId, deviceId, pushV1.Platform.WEBPUSH, sub.token);
    await h.produce([{ userId, deviceId, chatId, seq: 7n }]);
    const [r] = await waitFor(() => (h.fakes.of('webpush', sub.id).length ? h.fakes.of('webpush', sub.id) : undefined), { timeoutMs: 20_000 });
    expect(r!.payload).toMatchObject({ chatId, seq: 7, badge: 1, title: 'New message', body: 'hello 7' });
    expect(r!.headers.topic).toMatch(/^[A-Za-z0-9_-]{1,32}$/);
    expect(r!.headers.urgency).toBe('high');
  });

  it('ciphertext bodies carry no content at all', async () => {
    const { userId, deviceId, chatId } = ids();
    const sub = h.fakes.webPushSubscription();
    await register(userId, deviceId, pushV1.Platform.WEBPUSH, sub.token);
    await h.produce([{ userId, deviceId, chatId, seq: 1n, bodyKind: eventsV1.PushBodyKind.CIPHERTEXT, textPreview: '' }]);
    const [r] = await waitFor(() => (h.fakes.of('webpush', sub.id).length ? h.fakes.of('webpush', sub.id) : undefined), { timeoutMs: 20_000 });
    expect(r!.payload).toEqual({ id: expect.any(String), chatId, seq: 1, badge: 1, title: 'New message' });
  });

  it('FCM: OAuth token fetched once and reused; HTTP v1 message with collapse key and badge', async () => {
    const a = ids();
    const b = ids();
    const ta = h.fakes.fcmToken();
    const tb = h.fakes.fcmToken();
    await register(a.userId, a.deviceId, pushV1.Platform.FCM, ta);
    await register(b.userId, b.deviceId, pushV1.Platform.FCM, tb);
    await h.produce([{ ...a, seq: 3n }, { ...b, seq: 9n }]);
    await waitFor(() => h.fakes.of('fcm', ta).length === 1 && h.fakes.of('fcm', tb).length === 1, { timeoutMs: 20_000 });
    expect(h.fakes.fcmTokensIssued()).toBe(1);
    const m = h.fakes.of('fcm', ta)[0]!.payload as Record<string, Record<string, unknown>>;
    expect(m.notification).toEqual({ title: 'New message', body: 'hello 3' });
    expect(m.data).toMatchObject({ chatId: a.chatId, seq: '3', badge: '1' });
    expect(m.android).toMatchObject({ priority: 'high', collapse_key: expect.any(String) });
  });

  it('APNs: HTTP/2 with an ES256 provider token and the collapse / push-type / priority headers', async () => {
    const { userId, deviceId, chatId } = ids();
    const token = h.fakes.apnsToken();
    await register(userId, deviceId, pushV1.Platform.APNS, token);
    await h.produce([{ userId, deviceId, chatId, seq: 4n }]);
    const [r] = await waitFor(() => (h.fakes.of('apns', token).length ? h.fakes.of('apns', token) : undefined), { timeoutMs: 20_000 });
    expect(r!.headers['apns-push-type']).toBe('alert');
    expect(r!.headers['apns-priority']).toBe('10');
    expect(r!.headers['apns-collapse-id']).toMatch(/^.{1,64}$/);
    expect(r!.headers['apns-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(r!.payload).toMatchObject({ aps: { alert: { title: 'New message', body: 'hello 4' }, badge: 1 }, chatId, seq: 4 });
  });
});

describe('failures', () => {
  it('410 / UNREGISTERED / BadDeviceToken (Web Push, FCM, APNs) deletes the registration: never tried again', async () => {
    const w = ids();
    const sub = h.fakes.webPushSubscription();
    await register(w.userId, w.deviceId, pushV1.Platform.WEBPUSH, sub.token);
    h.fakes.kill('webpush', sub.id);
    const f = ids();
    const ft = h.fakes.fcmToken();
    await register(f.userId, f.deviceId, pushV1.Platform.FCM, ft);
    h.fakes.kill('fcm', ft);
    const ap = ids();
    const at = h.fakes.apnsToken();
    await register(ap.userId, ap.deviceId, pushV1.Platform.APNS, at);
    h.fakes.kill('apns', at);
    const bd = ids();
    const bt = h.fakes.apnsToken();
    await register(bd.userId, bd.deviceId, pushV1.Platform.APNS, bt);
    h.fakes.script('apns', bt, [{ status: 400, reason: 'BadDeviceToken' }]);
    await h.produce([{ ...w, seq: 1n }, { ...f, seq: 1n }, { ...ap, seq: 1n }, { ...bd, seq: 1n }]);
    await waitFor(
      () =>
        h.fakes.attempts.some((a) => a.key === sub.id && a.status === 410) &&
        h.fakes.attempts.some((a) => a.key === ft && a.status === 404) &&
        h.fakes.attempts.some((a) => a.key === at && a.status === 410) &&
        h.fakes.attempts.some((a) => a.key === bt && a.status === 400),
      { timeoutMs: 20_000 },
    );
    await waitFor(async () => (await h.metric('parley_push_invalidated_total')) >= 4, { timeoutMs: 10_000 });
    const skippedBefore = await h.metric('parley_push_skipped_total', { reason: 'no_registration' });
    await h.produce([{ ...w, chatId: `${w.chatId}-2`, seq: 2n }, { ...f, chatId: `${f.chatId}-2`, seq: 2n }, { ...ap, chatId: `${ap.chatId}-2`, seq: 2n }, { ...bd, chatId: `${bd.chatId}-2`, seq: 2n }]);
    await waitFor(async () => (await h.metric('parley_push_skipped_total', { reason: 'no_registration' })) >= skippedBefore + 4, { timeoutMs: 20_000 });
    expect(h.fakes.attempts.filter((a) => a.key === sub.id)).toHaveLength(1);
    expect(h.fakes.attempts.filter((a) => a.key === ft)).toHaveLength(1);
    expect(h.fakes.attempts.filter((a) => a.key === at)).toHaveLength(1);
    expect(h.fakes.attempts.filter((a) => a.key === bt)).toHaveLength(1);
  });

  it('429 with Retry-After is retried no sooner than asked; 500 is retried', async () => {
    const { userId, deviceId, chatId } = ids();
    const hook = h.fakes.webhookUrl();
    await register(userId, deviceId, pushV1.Platform.WEBHOOK, hook.token);
    h.fakes.script('webhook', hook.id, [{ status: 429, retryAfterS: 2 }, { status: 500 }]);
    await h.produce([{ userId, deviceId, chatId, seq: 1n }]);
    await waitFor(() => h.fakes.of('webhook', hook.id).length === 1, { timeoutMs: 30_000 });
    const tries = h.fakes.attempts.filter((a) => a.key === hook.id);
    expect(tries.map((t) => t.status)).toEqual([429, 500, 200]);
    expect(tries[1]!.at - tries[0]!.at).toBeGreaterThanOrEqual(1900);
    expect(await h.metric('parley_push_retried_total', { provider: 'webhook' })).toBeGreaterThanOrEqual(2);
  });

  it('a slow provider does not hold up another provider', async () => {
    const slow = ids();
    const fast = ids();
    const hook = h.fakes.webhookUrl();
    const sub = h.fakes.webPushSubscription();
    await register(slow.userId, slow.deviceId, pushV1.Platform.WEBHOOK, hook.token);
    await register(fast.userId, fast.deviceId, pushV1.Platform.WEBPUSH, sub.token);
    h.fakes.script('webhook', hook.id, [{ status: 429, retryAfterS: 5 }]);
    const t0 = Date.now();
    // Same partition is likely but not needed: the slow one is produced first.
    await h.produce([{ ...slow, seq: 1n }, { ...fast, seq: 1n }]);
    await waitFor(() => h.fakes.of('webpush', sub.id).length === 1, { timeoutMs: 20_000 });
    expect(Date.now() - t0).toBeLessThan(4000);
    expect(h.fakes.of('webhook', hook.id)).toHaveLength(0);
    await waitFor(() => h.fakes.of('webhook', hook.id).length === 1, { timeoutMs: 20_000 });
  });

  it('a token moving to another device moves; unregister removes', async () => {
    const a = ids();
    const b = ids();
    const token = h.fakes.fcmToken();
    await register(a.userId, a.deviceId, pushV1.Platform.FCM, token);
    await register(b.userId, b.deviceId, pushV1.Platform.FCM, token);
    await h.produce([{ ...a, seq: 1n }, { ...b, seq: 1n }]);
    await waitFor(() => h.fakes.of('fcm', token).length === 1, { timeoutMs: 20_000 });
    await new Promise((r) => setTimeout(r, 1000));
    expect(h.fakes.of('fcm', token).map((r) => (r.payload.data as Record<string, string>).chatId)).toEqual([b.chatId]);
    await h.client.unregisterPush({ userId: b.userId, deviceId: b.deviceId });
    const before = await h.metric('parley_push_skipped_total', { reason: 'no_registration' });
    await h.produce([{ ...b, chatId: `${b.chatId}-x`, seq: 2n }]);
    await waitFor(async () => (await h.metric('parley_push_skipped_total', { reason: 'no_registration' })) > before, { timeoutMs: 20_000 });
    expect(h.fakes.of('fcm', token)).toHaveLength(1);
  });

  it('APNs refusing our provider token disables APNs, loudly, and not the others; re-probed, it comes back by itself', async () => {
    const a = ids();
    const token = h.fakes.apnsToken();
    await register(a.userId, a.deviceId, pushV1.Platform.APNS, token);
    h.fakes.revoke('apns', true);
    try {
      await h.produce([{ ...a, seq: 1n }]);
      await waitFor(async () => (await h.metric('parley_push_provider_enabled', { provider: 'apns' })) === 0 || undefined, { timeoutMs: 20_000, intervalMs: 200 });
      expect(await h.metric('parley_push_provider_enabled', { provider: 'webhook' })).toBe(1);
      const w = ids();
      const hook = h.fakes.webhookUrl();
      await register(w.userId, w.deviceId, pushV1.Platform.WEBHOOK, hook.token);
      await h.produce([{ ...w, seq: 1n }]);
      await waitFor(() => h.fakes.of('webhook', hook.id).length === 1, { timeoutMs: 20_000 });
      // Probes while the key is still refused keep APNs off (1 s, then 2 s, … in this harness).
      await waitFor(() => h.fakes.attempts.filter((t) => t.key === APNS_PROBE_TOKEN && t.status === 403).length >= 2, { timeoutMs: 20_000 });
      expect(await h.metric('parley_push_provider_enabled', { provider: 'apns' })).toBe(0);
    } finally {
      h.fakes.revoke('apns', false);
    }
    await waitFor(async () => (await h.metric('parley_push_provider_enabled', { provider: 'apns' })) === 1 || undefined, { timeoutMs: 20_000, intervalMs: 200 });
    expect(h.fakes.attempts.some((t) => t.key === APNS_PROBE_TOKEN && t.status === 400)).toBe(true); // BadDeviceToken: credentials fine
    const b = ids();
    const token2 = h.fakes.apnsToken();
    await register(b.userId, b.deviceId, pushV1.Platform.APNS, token2);
    await h.produce([{ ...b, seq: 1n }]);
    await waitFor(() => h.fakes.of('apns', token2).length === 1, { timeoutMs: 20_000 });
    expect(h.fakes.of('apns', APNS_PROBE_TOKEN)).toHaveLength(0); // a probe notifies nobody
  });

  it('FCM answering 401 even to a fresh access token disables FCM; refused probes keep it off, a good one re-enables it', async () => {
    const f = ids();
    const token = h.fakes.fcmToken();
    await register(f.userId, f.deviceId, pushV1.Platform.FCM, token);
    const issued = h.fakes.fcmTokensIssued();
    h.fakes.scriptAll('fcm', { status: 401, reason: 'THIRD_PARTY_AUTH_ERROR' });
    try {
      await h.produce([{ ...f, seq: 1n }]);
      await waitFor(async () => (await h.metric('parley_push_provider_enabled', { provider: 'fcm' })) === 0 || undefined, { timeoutMs: 20_000, intervalMs: 200 });
      expect(h.fakes.fcmTokensIssued()).toBeGreaterThanOrEqual(issued + 1); // one fresh token was tried first
      // The probe (a fresh token + validate_only) is refused too: still off.
      await waitFor(() => h.fakes.attempts.some((t) => t.key === FCM_PROBE_TOKEN && t.status === 401), { timeoutMs: 20_000 });
      expect(await h.metric('parley_push_provider_enabled', { provider: 'fcm' })).toBe(0);
    } finally {
      h.fakes.scriptAll('fcm', undefined);
    }
    await waitFor(async () => (await h.metric('parley_push_provider_enabled', { provider: 'fcm' })) === 1 || undefined, { timeoutMs: 20_000, intervalMs: 200 });
    const g = ids();
    const token2 = h.fakes.fcmToken();
    await register(g.userId, g.deviceId, pushV1.Platform.FCM, token2);
    await h.produce([{ ...g, seq: 1n }]);
    await waitFor(() => h.fakes.of('fcm', token2).length === 1, { timeoutMs: 20_000 });
    expect(h.fakes.of('fcm', FCM_PROBE_TOKEN)).toHaveLength(0); // validate_only: nothing delivered
  });
});

describe('durable retries', () => {
  it('kill -9 while a 429 waits for Retry-After: the restarted service sends it from push.retry.v1, no sooner than asked', async () => {
    const { userId, deviceId, chatId } = ids();
    const hook = h.fakes.webhookUrl();
    await register(userId, deviceId, pushV1.Platform.WEBHOOK, hook.token);
    h.fakes.script('webhook', hook.id, [{ status: 429, retryAfterS: 12 }]);
    const deferredBefore = await h.metric('parley_push_results_total', { result: 'deferred' });
    await h.produce([{ userId, deviceId, chatId, seq: 1n }]);
    await waitFor(async () => (await h.metric('parley_push_results_total', { result: 'deferred' })) > deferredBefore || undefined, { timeoutMs: 20_000, intervalMs: 100 });
    const at429 = h.fakes.attempts.find((t) => t.key === hook.id && t.status === 429)!.at;
    // The request is settled once its retry is stored: its offset is committed (else a kill now would only
    // redeliver the request, which proves nothing about the retry).
    await waitFor(() => h.requestsCommitted() || undefined, { timeoutMs: 10_000, intervalMs: 100 });
    await h.kill9();
    await h.start();
    await waitFor(() => h.fakes.of('webhook', hook.id).length === 1, { timeoutMs: 60_000 });
    const got = h.fakes.of('webhook', hook.id)[0]!;
    expect(got.at - at429).toBeGreaterThanOrEqual(11_900);
    expect(got.payload).toMatchObject({ chatId, seq: 1, body: 'hello 1' });
    // The new process took it from push.retry.v1 (the request itself had been committed before the kill).
    expect(await h.metric('parley_push_retries_resumed_total', { provider: 'webhook' })).toBeGreaterThanOrEqual(1);
    await new Promise((r) => setTimeout(r, 1000));
    expect(h.fakes.attempts.filter((t) => t.key === hook.id).map((t) => t.status)).toEqual([429, 200]);
  });
});
