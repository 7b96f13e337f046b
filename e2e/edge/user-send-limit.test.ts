// The per-user message.send budget is cluster-wide (issue 15, docs/protocol.md §D): one token bucket in Redis
// for all of a user's devices on every gateway, so neither a second gateway nor a new device resets it. Over
// budget: `rate_limited` with `retryAfterMs` (protocol.md §6), nothing sent; other users are unaffected.
import { ParleyHttp, connect, signUp, type ParleyConnection } from '@parley/client';
import { edgeMesh, type Mesh } from './helpers.js';

let mesh: Mesh;
const opened: ParleyConnection[] = [];

beforeAll(async () => {
  mesh = await edgeMesh(
    {
      // Per device: far above the test. Per user: 5 at once, then one a minute (nothing refills during the test).
      GATEWAY_RATE_SEND_PER_MINUTE: '6000',
      GATEWAY_RATE_SEND_BURST: '1000',
      GATEWAY_USER_RATE_SEND_PER_MINUTE: '1',
      GATEWAY_USER_RATE_SEND_BURST: '5',
    },
    ['session', 'group', 'message'],
  );
});
afterAll(async () => {
  await Promise.all(opened.map((c) => c.close().catch(() => {})));
  await mesh?.stop();
});

async function device(creds: { username: string; password: string }, gw: number): Promise<ParleyConnection> {
  const t = await new ParleyHttp(mesh.gatewayUrls[0]!).login({ username: creds.username, password: creds.password });
  const c = await connect(mesh.wsUrls[gw]!, t.accessToken, { requestTimeoutMs: 15_000 });
  opened.push(c);
  return c;
}

let n = 0;
const send = (c: ParleyConnection, chatId: string) =>
  c.request('message.send', { chatId, clientMsgId: `user-limit-${Date.now()}-${n++}`, body: { text: 'hi' } }).then(
    (r: { seq: number }) => ({ ok: true as const, seq: r.seq }),
    (e: { code: string; retryAfterMs?: number }) => ({ ok: false as const, code: e.code, retryAfterMs: e.retryAfterMs }),
  );

test('devices on both gateways share one budget; a new device does not reset it; retryAfterMs is given', async () => {
  const alice = await signUp(mesh.gatewayUrls[0]!);
  const bob = await signUp(mesh.gatewayUrls[1]!);
  const a0 = await device(alice, 0);
  const a1 = await device(alice, 1);
  const b1 = await device(bob, 1);
  const chatId = ((await a0.request('chat.create', { type: 'direct', userId: bob.userId })) as { chat: { chatId: string } }).chat.chatId;

  // Three from the device on gateway 0, then two from the other device on gateway 1: all five stored.
  const first = [await send(a0, chatId), await send(a0, chatId), await send(a0, chatId), await send(a1, chatId), await send(a1, chatId)];
  expect(first.map((r) => r.ok)).toEqual([true, true, true, true, true]);
  const seqs = first.map((r) => (r.ok ? r.seq : 0));
  expect(seqs).toEqual([seqs[0]!, seqs[0]! + 1, seqs[0]! + 2, seqs[0]! + 3, seqs[0]! + 4]);

  // The sixth, from either gateway, is refused with the time until a token is back (one a minute).
  const onGw1 = await send(a1, chatId);
  const onGw0 = await send(a0, chatId);
  for (const r of [onGw1, onGw0]) {
    expect(r).toMatchObject({ ok: false, code: 'rate_limited' });
    expect(r.ok ? 0 : r.retryAfterMs!).toBeGreaterThan(30_000);
    expect(r.ok ? 0 : r.retryAfterMs!).toBeLessThanOrEqual(60_000);
  }

  // A device created now (a new login) starts with the user's empty budget, not a fresh one.
  const a2 = await device(alice, 0);
  expect(await send(a2, chatId)).toMatchObject({ ok: false, code: 'rate_limited' });

  // Nothing refused was stored: bob (his own budget) sends the next seq, and the history has exactly these six.
  const reply = await send(b1, chatId);
  expect(reply).toEqual({ ok: true, seq: seqs[4]! + 1 });
  const history = (await b1.request('message.history', { chatId, limit: 50 })) as { messages: { seq: number; senderUserId?: string }[] };
  expect(history.messages.map((m) => m.seq).filter((q) => q >= seqs[0]!)).toEqual([...seqs, seqs[4]! + 1]);

  // The limit is counted on the gateways' /metrics.
  const metrics = await Promise.all(mesh.gatewayUrls.map(async (u) => (await fetch(`${u}/metrics`)).text()));
  const refused = metrics.map((m) => Number(/parley_gateway_user_rate_limited_total\{[^}]*op="message.send"[^}]*\} (\d+)/.exec(m)?.[1] ?? 0));
  expect(refused[0]! + refused[1]!).toBe(3);
});
