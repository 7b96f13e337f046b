// A slow provider must not stall the others: its backlog beyond a small per-provider queue goes to
// push.retry.v1 instead of holding the request consumer's in-flight budget, which every provider shares.
// Real Kafka and Cassandra, the fake providers; the webhook fake answers every request only after a delay.
import { pushV1 } from '@parley/proto';
import { waitFor } from '@parley/testing';
import { startPushHarness, type PushHarness } from './harness.js';

jest.setTimeout(120_000);

let h: PushHarness;
beforeAll(async () => {
  h = await startPushHarness({
    PUSH_COLLAPSE_WINDOW: '0',
    PUSH_CONCURRENCY_PER_PROVIDER: '2',
    PUSH_QUEUE_PER_PROVIDER: '4',
    PUSH_MAX_IN_FLIGHT: '12',
  });
});
afterAll(async () => {
  await h?.stop();
});

it('a webhook receiver that takes 3 s per request does not hold up Web Push; every webhook still arrives once', async () => {
  const t = Date.now();
  const slowUser = `slow-${t}`;
  const slowDevice = `slow-d-${t}`;
  const hook = h.fakes.webhookUrl();
  await h.client.registerPush({ userId: slowUser, deviceId: slowDevice, platform: pushV1.Platform.WEBHOOK, token: hook.token });
  const fastUser = `fast-${t}`;
  const fastDevice = `fast-d-${t}`;
  const sub = h.fakes.webPushSubscription();
  await h.client.registerPush({ userId: fastUser, deviceId: fastDevice, platform: pushV1.Platform.WEBPUSH, token: sub.token });
  h.fakes.scriptAll('webhook', { status: 200, delayMs: 3000 });
  try {
    const N = 16;
    // 16 chats of one device; once the service has taken them (had it held them all in memory, its 12 in-flight
    // slots would now be full until the first two answers, 3 s after they were sent), the Web Push request.
    await h.produce(Array.from({ length: N }, (_, i) => ({ userId: slowUser, deviceId: slowDevice, chatId: `slow-${t}-${i}`, seq: 1n })));
    await new Promise((r) => setTimeout(r, 1000));
    const t0 = Date.now();
    await h.produce([{ userId: fastUser, deviceId: fastDevice, chatId: `fast-${t}`, seq: 1n }]);
    await waitFor(() => h.fakes.of('webpush', sub.id).length === 1, { timeoutMs: 20_000, intervalMs: 50 });
    expect(Date.now() - t0).toBeLessThan(1500);
    expect(await h.metric('parley_push_retried_total', { provider: 'webhook', reason: 'queue_full' })).toBeGreaterThan(0);
    await waitFor(() => h.fakes.of('webhook', hook.id).length >= N, { timeoutMs: 60_000 });
    await new Promise((r) => setTimeout(r, 1500));
    const chats = h.fakes.of('webhook', hook.id).map((r) => (r.payload as { chatId: string }).chatId);
    expect(chats).toHaveLength(N);
    expect(new Set(chats).size).toBe(N);
  } finally {
    h.fakes.scriptAll('webhook', undefined);
  }
});
