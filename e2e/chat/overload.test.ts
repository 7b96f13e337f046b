// Load shedding (docs/architecture.md "Overload"): beyond GATEWAY_MAX_INFLIGHT_SENDS / MESSAGE_MAX_INFLIGHT_SENDS
// concurrent sends, message.send is refused at once with `unavailable` and a retryAfterMs — never `internal`,
// never a hang — and a client that retries with the same clientMsgId gets every message in exactly once,
// gap-free (protocol §6, §8.2, §8.3).
import { ParleyRequestError } from '@parley/client';
import { chatMesh, clientMsgId, Device, expectContiguous, fullHistory, newUsers, sleep, text, type Mesh } from './helpers.js';

let mesh: Mesh;
beforeAll(async () => {
  // Tiny admission limits so that one client's burst overflows them.
  mesh = await chatMesh({ GATEWAY_MAX_INFLIGHT_SENDS: '2', MESSAGE_MAX_INFLIGHT_SENDS: '2' });
});
afterAll(async () => {
  await mesh?.stop();
});

it('a burst beyond the in-flight limits is shed with unavailable + retryAfterMs; retries land each message exactly once', async () => {
  const [alice, bob] = await newUsers(mesh, 2, 'ov');
  const a = new Device(mesh, alice!, 'a');
  const b = new Device(mesh, bob!, 'b');
  await a.connect(0);
  await b.connect(1);
  const { chat } = await a.c.request('chat.create', { type: 'direct', userId: bob!.userId });
  const base = chat.lastSeq;
  const N = 60;
  const ids = Array.from({ length: N }, () => clientMsgId('ov'));
  const first = await Promise.allSettled(ids.map((id, i) => a.c.request('message.send', { chatId: chat.chatId, clientMsgId: id, body: text(`m${i}`) })));
  const refused = first.flatMap((r, i) => (r.status === 'rejected' ? [{ i, err: r.reason as unknown }] : []));
  expect(refused.length).toBeGreaterThan(0);
  expect(refused.length).toBeLessThan(N);
  for (const { err } of refused) {
    expect(err).toBeInstanceOf(ParleyRequestError);
    expect((err as ParleyRequestError).code).toBe('unavailable');
    expect((err as ParleyRequestError).retryAfterMs).toBeGreaterThan(0);
  }
  // Retry what was refused, one at a time, as a client would (same clientMsgId, after retryAfterMs).
  for (const { i, err } of refused) {
    for (let attempt = 0; ; attempt++) {
      await sleep(Math.min((err as ParleyRequestError).retryAfterMs ?? 100, 200));
      try {
        await a.c.request('message.send', { chatId: chat.chatId, clientMsgId: ids[i]!, body: text(`m${i}`) });
        break;
      } catch (e) {
        if (!(e instanceof ParleyRequestError) || e.code !== 'unavailable' || attempt > 20) throw e;
      }
    }
  }
  const history = await fullHistory(a.c, chat.chatId);
  const mine = history.filter((m) => m.seq > base);
  expectContiguous(mine.map((m) => m.seq), base + 1, base + N);
  expect(new Set(mine.map((m) => m.clientMsgId))).toEqual(new Set(ids));
  // The receiver gets all N, each once after dedupe by (chatId, seq).
  await b.waitForSeqs(chat.chatId, Array.from({ length: N }, (_, k) => base + 1 + k), 20_000);
  expectContiguous([...b.messages.get(chat.chatId)!.keys()].filter((s) => s > base), base + 1, base + N);
});
