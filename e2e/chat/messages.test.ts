// protocol.md §4 message.*, §8.2 (per-chat order, membership bounds), §8.3 (idempotent send), §8.4
// (fan-out to every device except the sending one), §8.8 (authorization). Devices on both gateways.
import type { Message } from '@parley/client';
import {
  chatMesh,
  clientMsgId,
  Device,
  devicesOf,
  errorCode,
  expectContiguous,
  fullHistory,
  newUser,
  sleep,
  text,
  type Mesh,
} from './helpers.js';

let mesh: Mesh;
beforeAll(async () => {
  mesh = await chatMesh();
});
afterAll(async () => {
  await mesh?.stop();
});

async function online(u: Awaited<ReturnType<typeof newUser>>, gw: number, name = 'd'): Promise<Device> {
  const d = new Device(mesh, u, `${u.username}-${name}`);
  await d.connect(gw);
  return d;
}

it('message.new reaches every device of every member, including the sender\'s other devices, but not the sending device', async () => {
  const [alice, bob, carol] = [await newUser(mesh), await newUser(mesh), await newUser(mesh)];
  const [a0, a1] = await devicesOf(mesh, alice, 2);
  const [b0, b1] = await devicesOf(mesh, bob, 2);
  const [c0] = await devicesOf(mesh, carol, 1);
  await a0!.connect(0);
  await a1!.connect(1);
  await b0!.connect(0);
  await b1!.connect(1);
  await c0!.connect(1);
  const { chat } = await a0!.c.request('chat.create', { type: 'group', name: 'fan', members: [bob.userId, carol.userId] });
  const id = chat.chatId;
  const cm = clientMsgId();
  const reply = await a0!.c.request('message.send', { chatId: id, clientMsgId: cm, body: text('hello everyone') });
  expect(reply.duplicate).toBe(false);
  expect(reply.seq).toBe(2); // 1 is the "created" system message
  expect(typeof reply.messageId).toBe('string');
  expect(Number.isNaN(Date.parse(reply.createdAt))).toBe(false);
  for (const d of [a1!, b0!, b1!, c0!]) await d.waitForSeqs(id, [reply.seq]);
  for (const d of [a1!, b0!, b1!, c0!]) {
    const m = d.messages.get(id)!.get(reply.seq)!;
    expect(m).toMatchObject({
      chatId: id,
      seq: reply.seq,
      messageId: reply.messageId,
      kind: 'user',
      sender: { userId: alice.userId, deviceId: a0!.deviceId },
      clientMsgId: cm,
      body: { text: 'hello everyone' },
      attachments: [],
      createdAt: reply.createdAt,
    });
  }
  // The sending device never gets its own message back, live or as backlog.
  await sleep(500);
  expect(a0!.has(id, reply.seq)).toBe(false);
  await a0!.disconnect();
  await a0!.connect(1);
  await a0!.waitDrained();
  expect(a0!.has(id, reply.seq)).toBe(false);
  // A direct chat works the same way across gateways.
  const direct = (await b1!.c.request('chat.create', { type: 'direct', userId: carol.userId })).chat;
  const r2 = await b1!.c.request('message.send', { chatId: direct.chatId, clientMsgId: clientMsgId(), body: text('psst') });
  await c0!.waitForSeqs(direct.chatId, [r2.seq]);
  await b0!.waitForSeqs(direct.chatId, [r2.seq]);
  await sleep(300);
  expect(a1!.messages.has(direct.chatId)).toBe(false);
  for (const d of [a0!, a1!, b0!, b1!, c0!]) await d.disconnect();
});

it('seq is 1, 2, 3, … per chat with system messages in the same sequence', async () => {
  const [alice, bob, carol] = [await newUser(mesh), await newUser(mesh), await newUser(mesh)];
  const a = await online(alice, 0);
  const b = await online(bob, 1);
  const { chat } = await a.c.request('chat.create', { type: 'group', name: 'seq', members: [bob.userId] });
  const id = chat.chatId;
  const seqs: number[] = [];
  for (let i = 0; i < 3; i++) seqs.push((await a.c.request('message.send', { chatId: id, clientMsgId: clientMsgId(), body: text(`a${i}`) })).seq);
  await a.c.request('chat.members.add', { chatId: id, userIds: [carol.userId] });
  for (let i = 0; i < 2; i++) seqs.push((await b.c.request('message.send', { chatId: id, clientMsgId: clientMsgId(), body: text(`b${i}`) })).seq);
  await a.c.request('chat.update', { chatId: id, name: 'seq2' });
  seqs.push((await a.c.request('message.send', { chatId: id, clientMsgId: clientMsgId(), body: text('last') })).seq);
  expect(seqs).toEqual([2, 3, 4, 6, 7, 9]);
  const h = await fullHistory(a.c, id);
  expect(h.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  expect(h.map((m) => m.kind)).toEqual(['system', 'user', 'user', 'user', 'system', 'user', 'user', 'system', 'user']);
  expect(h[4]!.system).toMatchObject({ action: 'members.added', actor: alice.userId, userIds: [carol.userId] });
  expect(h[7]!.system).toMatchObject({ action: 'renamed', name: 'seq2' });
  // Bob's device received the whole sequence except its own sends, in order.
  await b.waitForSeqs(id, [1, 2, 3, 4, 5, 8, 9]);
  expect(b.has(id, 6) || b.has(id, 7)).toBe(false);
  const bSeqs = b.newOf(undefined, id).map((m) => m.seq);
  expect(bSeqs).toEqual([...bSeqs].sort((x, y) => x - y));
  // The chat's lastSeq agrees.
  expect((await b.c.request('chat.get', { chatId: id })).chat.lastSeq).toBe(9);
  await a.disconnect();
  await b.disconnect();
});

it('a member added at seq n never receives or sees anything before n; one removed at n nothing after n, then not_member', async () => {
  const [alice, bob, carol] = [await newUser(mesh), await newUser(mesh), await newUser(mesh)];
  const a = await online(alice, 0);
  const b = await online(bob, 1);
  const c = await online(carol, 1); // online before she is added: nothing earlier may leak to her live either
  const { chat } = await a.c.request('chat.create', { type: 'group', name: 'bounds', members: [bob.userId] });
  const id = chat.chatId;
  for (let i = 0; i < 3; i++) await a.c.request('message.send', { chatId: id, clientMsgId: clientMsgId(), body: text(`before ${i}`) });
  const added = await a.c.request('chat.members.add', { chatId: id, userIds: [carol.userId] });
  const n = added.chat.lastSeq;
  expect(n).toBe(5);
  const after = await a.c.request('message.send', { chatId: id, clientMsgId: clientMsgId(), body: text('after add') });
  await c.waitForSeqs(id, [n, after.seq]);
  expect(c.seqs(id)).toEqual([n, after.seq]);
  expect(c.messages.get(id)!.get(n)!.system).toMatchObject({ action: 'members.added', userIds: [carol.userId] });
  // History never shows her anything before n, whatever she asks for.
  const h = await fullHistory(c.c, id);
  expect(h.map((m) => m.seq)).toEqual([n, after.seq]);
  const early = await c.c.request('message.history', { chatId: id, afterSeq: 0, limit: 100 });
  expect(early.messages.every((m) => m.seq >= n)).toBe(true);
  const before = await c.c.request('message.history', { chatId: id, beforeSeq: n, limit: 100 });
  expect(before.messages).toEqual([]);
  expect(before.hasMore).toBe(false);
  // replyTo a message before she joined is refused as if it did not exist.
  expect(await errorCode(c.c.request('message.send', { chatId: id, clientMsgId: clientMsgId(), body: text('re'), replyTo: 2 }))).toMatch(/^(not_found|bad_request)$/);
  // A fresh device of hers, connecting now, gets no backlog before n either.
  const c2 = new Device(mesh, carol, 'carol-2');
  await c2.connect(0);
  await c2.waitDrained();
  await sleep(300);
  expect(c2.seqs(id).every((s) => s >= n)).toBe(true);
  expect(c2.seqs(id)).toEqual([n, after.seq]);

  // Remove bob at m: he receives m (his removal), nothing after, and is then not_member.
  const removed = await a.c.request('chat.members.remove', { chatId: id, userIds: [bob.userId] });
  const m = removed.chat.lastSeq;
  await b.waitForSeqs(id, [m]);
  expect(b.messages.get(id)!.get(m)!.system).toMatchObject({ action: 'members.removed', userIds: [bob.userId] });
  const later = await a.c.request('message.send', { chatId: id, clientMsgId: clientMsgId(), body: text('after removal') });
  await c.waitForSeqs(id, [m, later.seq]);
  await sleep(500);
  expect(Math.max(...b.seqs(id))).toBe(m);
  expect(await errorCode(b.c.request('message.send', { chatId: id, clientMsgId: clientMsgId(), body: text('still here?') }))).toBe('not_member');
  // History after removal: protocol §8.8 says only members read a chat; whatever comes back must at least
  // stop at m. (Asserted at the end so the rest of the bounds are checked either way.)
  const removedHistory = await b.c.request('message.history', { chatId: id, limit: 100 }).then(
    (r) => ({ ok: true as const, seqs: r.messages.map((x) => x.seq) }),
    (e: { code?: string }) => ({ ok: false as const, code: e.code }),
  );
  if (removedHistory.ok) expect(removedHistory.seqs.every((s) => s <= m)).toBe(true);
  expect(await errorCode(b.c.request('chat.get', { chatId: id }))).toBe('not_member');
  // On reconnect his backlog stops at m too.
  await b.disconnect();
  await b.connect(0);
  await b.waitDrained();
  await sleep(300);
  expect(Math.max(...b.seqs(id))).toBe(m);
  // Re-added later at k, he sees [.., m] and [k, ..] but never (m, k).
  const re = await a.c.request('chat.members.add', { chatId: id, userIds: [bob.userId] });
  const k = re.chat.lastSeq;
  const last = await a.c.request('message.send', { chatId: id, clientMsgId: clientMsgId(), body: text('welcome back') });
  await b.waitForSeqs(id, [k, last.seq]);
  expect(b.seqs(id).filter((s) => s > m && s < k)).toEqual([]);
  const bh = await fullHistory(b.c, id);
  expect(bh.some((x) => x.seq > m && x.seq < k)).toBe(false);
  expect(bh.map((x) => x.seq)).toContain(last.seq);
  for (const d of [a, b, c, c2]) await d.disconnect();
  // A removed member gets not_member for history, as for send and chat.get.
  expect(removedHistory).toEqual({ ok: false, code: 'not_member' });
});

it('idempotent send: the same clientMsgId returns the first reply with duplicate:true and delivers nothing new', async () => {
  const [alice, bob] = [await newUser(mesh), await newUser(mesh)];
  const a = await online(alice, 0);
  const b = await online(bob, 1);
  const { chat } = await a.c.request('chat.create', { type: 'direct', userId: bob.userId });
  const id = chat.chatId;
  const cm = clientMsgId();
  const first = await a.c.request('message.send', { chatId: id, clientMsgId: cm, body: text('once') });
  // Repeats, sequential and concurrent, and even with a different body, return the first reply.
  const again = await a.c.request('message.send', { chatId: id, clientMsgId: cm, body: text('once') });
  const burst = await Promise.all(Array.from({ length: 5 }, () => a.c.request('message.send', { chatId: id, clientMsgId: cm, body: text('other body') })));
  for (const r of [again, ...burst]) {
    expect(r).toEqual({ messageId: first.messageId, seq: first.seq, createdAt: first.createdAt, duplicate: true });
  }
  // From another device of the same user, the same reply (same sender = the user).
  const a2 = new Device(mesh, alice, 'alice-2');
  await a2.connect(1);
  const other = await a2.c.request('message.send', { chatId: id, clientMsgId: cm, body: text('once') });
  expect(other.seq).toBe(first.seq);
  expect(other.messageId).toBe(first.messageId);
  expect(other.duplicate).toBe(true);
  // The same clientMsgId from another user is another message.
  const fromBob = await b.c.request('message.send', { chatId: id, clientMsgId: cm, body: text('mine') });
  expect(fromBob.duplicate).toBe(false);
  expect(fromBob.seq).toBe(first.seq + 1);
  await b.waitForSeqs(id, [first.seq]);
  await a2.waitForSeqs(id, [fromBob.seq]);
  await sleep(500);
  // Nothing new: after dedupe by (chatId, seq) bob holds exactly the two messages. (A repeat may re-deliver
  // the same seq — the message service republishes on a duplicate to heal a crash between commit and publish,
  // which guarantee 4 allows — but never a second message.)
  expect(b.seqs(id).filter((s) => s > chat.lastSeq)).toEqual([first.seq]);
  expect(a2.seqs(id).filter((s) => s > chat.lastSeq)).toEqual([first.seq, fromBob.seq]); // alice's other device gets hers too
  for (const dev of [b, a2]) for (const [, msg] of dev.messages.get(id)!) expect(msg.messageId === first.messageId || msg.seq !== first.seq).toBe(true);
  const h = await fullHistory(a.c, id);
  expect(h.filter((m) => m.clientMsgId === cm && m.sender.userId === alice.userId)).toHaveLength(1);
  expect(h.find((m) => m.seq === first.seq)!.body).toEqual({ text: 'once' });
  expect(h.map((m) => m.seq)).toEqual([...Array.from({ length: chat.lastSeq }, (_, i) => i + 1), first.seq, fromBob.seq]);
  for (const d of [a, a2, b]) await d.disconnect();
});

it('message.history pages ascending with beforeSeq/afterSeq/limit and hasMore', async () => {
  const [alice, bob] = [await newUser(mesh), await newUser(mesh)];
  const a = await online(alice, 0);
  const b = await online(bob, 1);
  const { chat } = await a.c.request('chat.create', { type: 'direct', userId: bob.userId });
  const id = chat.chatId;
  // A direct chat may or may not start with a system message: page relative to what is there.
  const base = chat.lastSeq;
  const N = 120;
  for (let i = 0; i < N; i++) await (i % 2 ? b : a).c.request('message.send', { chatId: id, clientMsgId: clientMsgId(), body: text(`m${i}`) });
  const last = base + N;
  const seqsOf = (ms: Message[]) => ms.map((m) => m.seq);
  const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

  const latest = await b.c.request('message.history', { chatId: id });
  expect(seqsOf(latest.messages)).toEqual(range(last - 49, last)); // default 50, the newest, ascending
  expect(latest.hasMore).toBe(true);
  const lim = await b.c.request('message.history', { chatId: id, limit: 10 });
  expect(seqsOf(lim.messages)).toEqual(range(last - 9, last));
  const before = await b.c.request('message.history', { chatId: id, beforeSeq: last - 9, limit: 10 });
  expect(seqsOf(before.messages)).toEqual(range(last - 19, last - 10));
  expect(before.hasMore).toBe(true);
  const oldest = await b.c.request('message.history', { chatId: id, beforeSeq: base + 6, limit: 10 });
  expect(seqsOf(oldest.messages)).toEqual(range(Math.max(1, base + 6 - 10), base + 5));
  expect(oldest.hasMore).toBe(false);
  const afterP = await b.c.request('message.history', { chatId: id, afterSeq: base + 10, limit: 5 });
  expect(seqsOf(afterP.messages)).toEqual(range(base + 11, base + 15));
  expect(afterP.hasMore).toBe(true);
  const tail = await b.c.request('message.history', { chatId: id, afterSeq: last - 3, limit: 5 });
  expect(seqsOf(tail.messages)).toEqual(range(last - 2, last));
  expect(tail.hasMore).toBe(false);
  const none = await b.c.request('message.history', { chatId: id, afterSeq: last });
  expect(none).toEqual({ messages: [], hasMore: false });
  const max = await b.c.request('message.history', { chatId: id, limit: 100 });
  expect(seqsOf(max.messages)).toEqual(range(last - 99, last));
  // Paging backwards with hasMore visits every message exactly once.
  const all = await fullHistory(a.c, id);
  expectContiguous(seqsOf(all), 1, last);
  expect(all.filter((m) => m.kind === 'user').map((m) => m.body.text)).toEqual(Array.from({ length: N }, (_, i) => `m${i}`));
  // Out-of-range limits are bad_request.
  expect(await errorCode(b.c.request('message.history', { chatId: id, limit: 0 }))).toBe('bad_request');
  expect(await errorCode(b.c.request('message.history', { chatId: id, limit: 101 }))).toBe('bad_request');
  await a.disconnect();
  await b.disconnect();
});

describe('body rules', () => {
  let a: Device;
  let b: Device;
  let id: string;
  beforeAll(async () => {
    const [alice, bob] = [await newUser(mesh), await newUser(mesh)];
    a = await online(alice, 0);
    b = await online(bob, 1);
    id = (await a.c.request('chat.create', { type: 'direct', userId: bob.userId })).chat.chatId;
  });
  afterAll(async () => {
    await a?.disconnect();
    await b?.disconnect();
  });

  const send = (body: object, extra: object = {}) =>
    a.c.request('message.send', { chatId: id, clientMsgId: clientMsgId(), body, ...extra } as never);

  it('text of 1–16 384 UTF-8 bytes is accepted and relayed exactly; more is refused', async () => {
    const max = 'é'.repeat(8192); // 16 384 bytes
    const r = await send({ text: max });
    await b.waitForSeqs(id, [r.seq]);
    expect(b.messages.get(id)!.get(r.seq)!.body).toEqual({ text: max });
    const emoji = await send({ text: '👋 hi\u0000there' });
    await b.waitForSeqs(id, [emoji.seq]);
    expect(b.messages.get(id)!.get(emoji.seq)!.body.text).toBe('👋 hi\u0000there');
    expect(await errorCode(send({ text: max + 'x' }))).toMatch(/^(bad_request|too_large)$/);
    expect(await errorCode(send({ text: '' }))).toBe('bad_request');
  });

  it('ciphertext (base64, ≤ 64 KiB decoded) is stored and relayed untouched', async () => {
    const bytes = Buffer.alloc(65_536);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7919 + 13) & 0xff;
    const b64 = bytes.toString('base64');
    const r = await send({ ciphertext: b64 });
    await b.waitForSeqs(id, [r.seq]);
    const live = b.messages.get(id)!.get(r.seq)!;
    expect(live.body).toEqual({ ciphertext: b64 });
    expect(Buffer.from(live.body.ciphertext!, 'base64').equals(bytes)).toBe(true);
    const hist = (await b.c.request('message.history', { chatId: id, afterSeq: r.seq - 1, limit: 1 })).messages[0]!;
    expect(hist.body).toEqual({ ciphertext: b64 });
    const small = Buffer.from([0, 255, 1, 254]).toString('base64');
    const r2 = await send({ ciphertext: small });
    await b.waitForSeqs(id, [r2.seq]);
    expect(b.messages.get(id)!.get(r2.seq)!.body).toEqual({ ciphertext: small });
    expect(await errorCode(send({ ciphertext: Buffer.alloc(65_537, 1).toString('base64') }))).toMatch(/^(bad_request|too_large)$/);
    expect(await errorCode(send({ ciphertext: 'not base64 at all!!' }))).toBe('bad_request');
    // Pipelined 64 KiB sends are committed together by the sequencer: far above Cassandra's 50 KiB batch limit.
    const burst = await Promise.all(Array.from({ length: 6 }, () => send({ ciphertext: b64 })));
    const seqs = burst.map((x) => x.seq);
    expect(new Set(seqs).size).toBe(6);
    await b.waitForSeqs(id, seqs);
    for (const s of seqs) expect(b.messages.get(id)!.get(s)!.body).toEqual({ ciphertext: b64 });
  });

  it('exactly one of text/ciphertext; replyTo must exist; clientMsgId 8–64 chars', async () => {
    expect(await errorCode(send({ text: 'a', ciphertext: 'AAAA' }))).toBe('bad_request');
    expect(await errorCode(send({}))).toBe('bad_request');
    const target = await send({ text: 'target' });
    const reply = await send({ text: 'reply' }, { replyTo: target.seq });
    await b.waitForSeqs(id, [reply.seq]);
    expect(b.messages.get(id)!.get(reply.seq)!.replyTo).toBe(target.seq);
    expect(await errorCode(send({ text: 'reply' }, { replyTo: reply.seq + 1000 }))).toMatch(/^(not_found|bad_request)$/);
    expect(await errorCode(send({ text: 'reply' }, { replyTo: 0 }))).toBe('bad_request');
    expect(await errorCode(a.c.request('message.send', { chatId: id, clientMsgId: 'short', body: { text: 'x' } }))).toBe('bad_request');
    expect(await errorCode(a.c.request('message.send', { chatId: id, clientMsgId: 'x'.repeat(65), body: { text: 'x' } }))).toBe('bad_request');
    // None of the refused sends took a seq: the log is gap-free.
    const h = await fullHistory(a.c, id);
    expectContiguous(h.map((m) => m.seq), 1, reply.seq);
  });
});

it('authorization: non-members get not_member; the sender is always the token\'s user and device', async () => {
  const [alice, bob, mallory] = [await newUser(mesh), await newUser(mesh), await newUser(mesh)];
  const a = await online(alice, 0);
  const b = await online(bob, 1);
  const m = await online(mallory, 1);
  const { chat } = await a.c.request('chat.create', { type: 'direct', userId: bob.userId });
  const id = chat.chatId;
  const r = await a.c.request('message.send', { chatId: id, clientMsgId: clientMsgId(), body: text('secret') });
  expect(await errorCode(m.c.request('message.send', { chatId: id, clientMsgId: clientMsgId(), body: text('let me in') }))).toBe('not_member');
  expect(await errorCode(m.c.request('message.history', { chatId: id }))).toBe('not_member');
  expect(await errorCode(m.c.request('chat.get', { chatId: id }))).toBe('not_member');
  expect(await errorCode(m.c.request('message.send', { chatId: 'no-such-chat', clientMsgId: clientMsgId(), body: text('x') }))).toMatch(/^(not_member|not_found)$/);
  // Mallory puts alice's ids everywhere: still not a member, nothing stored.
  const spoof = { userId: alice.userId, deviceId: a.deviceId, sender: { userId: alice.userId, deviceId: a.deviceId } };
  expect(await errorCode(m.c.request('message.send', { chatId: id, clientMsgId: clientMsgId(), body: text('as alice'), ...spoof } as never))).toBe('not_member');
  // Acks and reads from a non-member change nothing and leak nothing.
  await m.c.request('message.ack', { items: [{ chatId: id, seq: r.seq }] }).catch(() => undefined);
  // Bob sends claiming alice's device: the message is bob's, from bob's device.
  const cm = clientMsgId();
  const fake = await b.c.request('message.send', { chatId: id, clientMsgId: cm, body: text('from bob'), ...spoof } as never);
  await a.waitForSeqs(id, [fake.seq]);
  expect(a.messages.get(id)!.get(fake.seq)!.sender).toEqual({ userId: bob.userId, deviceId: b.deviceId });
  const h = await fullHistory(a.c, id);
  expect(h.map((x) => x.sender.userId).every((u) => u === alice.userId || u === bob.userId)).toBe(true);
  expect(h.find((x) => x.clientMsgId === cm)!.sender).toEqual({ userId: bob.userId, deviceId: b.deviceId });
  // Mallory received nothing of that chat.
  await sleep(300);
  expect(m.messages.has(id)).toBe(false);
  // An ack naming another device is impossible by construction: bob acking does not clear alice's backlog.
  const r3 = await b.c.request('message.send', { chatId: id, clientMsgId: clientMsgId(), body: text('unacked by alice') });
  await a.waitForSeqs(id, [r3.seq]);
  await b.c.request('message.ack', { items: [{ chatId: id, seq: r3.seq }], deviceId: a.deviceId, userId: alice.userId } as never);
  await a.disconnect();
  await a.connect(0);
  await a.waitDrained();
  expect(a.newOf(undefined, id).map((x) => x.seq)).toEqual(expect.arrayContaining([fake.seq, r3.seq]));
  for (const d of [a, b, m]) await d.disconnect();
});
