// Receipts end to end through two gateways (protocol §8.5, docs/protocol.md "Receipts"): delivered on ack,
// read on message.read, to every device of the sender (and, for reads, the reader's own devices); cumulative and
// monotonic reads; replay to a device that was offline; readReceipts:false; coalescing in groups.
import {
  Device,
  deliveredTo,
  devicesOf,
  newUsers,
  presenceMesh,
  readBy,
  receiptFrames,
  retryUnavailable,
  receiptsOf,
  sleep,
  type Mesh,
  type User,
} from './helpers.js';

let mesh: Mesh;
beforeAll(async () => {
  mesh = await presenceMesh();
});
afterAll(async () => {
  await mesh?.stop();
});

async function online(devs: Device[], gws: number[]): Promise<void> {
  await Promise.all(devs.map(async (d, i) => {
    await d.connect(gws[i % gws.length]!);
    await d.waitDrained();
  }));
}

describe('receipts', () => {
  let a: User;
  let b: User;
  let a1: Device, a2: Device, b1: Device, b2: Device;
  let chatId: string;

  beforeAll(async () => {
    [a, b] = await newUsers(mesh, 2, 'rc');
    [a1, a2] = await devicesOf(mesh, a!, 2);
    [b1, b2] = await devicesOf(mesh, b!, 2);
    await online([a1!, a2!, b1!, b2!], [0, 1, 1, 0]);
    chatId = (await a1!.c.request('chat.create', { type: 'direct', userId: b!.userId })).chat.chatId;
  });

  it('delivered reaches every device of the sender, not the reader own devices, once a recipient device acks', async () => {
    const { seq } = await a1.c.request('message.send', { chatId, clientMsgId: 'rc-delivered-1', body: { text: 'hi' } });
    await b1.waitForSeqs(chatId, [seq]);
    await b1.c.request('message.ack', { items: [{ chatId, seq }] });
    await a1.until(() => deliveredTo(a1, chatId, b.userId, seq), 10_000, 'delivered on a1');
    await a2.until(() => deliveredTo(a2, chatId, b.userId, seq), 10_000, 'delivered on a2');
    // a second device of the same recipient acking does not produce a second delivered receipt
    await b2.waitForSeqs(chatId, [seq]);
    await b2.c.request('message.ack', { items: [{ chatId, seq }] });
    await sleep(1000);
    expect(receiptsOf(a1).filter((r) => r.status === 'delivered' && (r.seqs ?? []).includes(seq))).toHaveLength(1);
    // the reader's own devices hold the message; they are not told it was delivered to them (protocol §8.5)
    for (const d of [b1, b2]) expect(deliveredTo(d, chatId, b.userId, seq)).toBe(false);
  });

  it('read reaches the sender devices and the reader other devices, as upToSeq; reads are monotonic', async () => {
    const s1 = await a1.c.request('message.send', { chatId, clientMsgId: 'rc-read-1', body: { text: 'one' } });
    const s2 = await a1.c.request('message.send', { chatId, clientMsgId: 'rc-read-2', body: { text: 'two' } });
    await b1.waitForSeqs(chatId, [s1.seq, s2.seq]);
    await b1.c.request('message.read', { chatId, seq: s2.seq });
    for (const d of [a1, a2, b2]) await d.until(() => readBy(d, chatId, b.userId, s2.seq), 10_000, `read on ${d.name}`);
    const before = receiptsOf(a1).filter((r) => r.status === 'read').length;
    await b1.c.request('message.read', { chatId, seq: s1.seq }); // lower: changes nothing
    await b1.c.request('message.read', { chatId, seq: s2.seq }); // equal: changes nothing
    await sleep(1500);
    expect(receiptsOf(a1).filter((r) => r.status === 'read')).toHaveLength(before);
  });

  it('a sender device that was offline gets the receipts it missed when it reconnects, once', async () => {
    const { seq } = await a1.c.request('message.send', { chatId, clientMsgId: 'rc-offline-1', body: { text: 'while away' } });
    await a2.disconnect();
    await sleep(300);
    await b1.waitForSeqs(chatId, [seq]);
    await b1.c.request('message.ack', { items: [{ chatId, seq }] });
    await b1.c.request('message.read', { chatId, seq });
    await a1.until(() => readBy(a1, chatId, b.userId, seq), 10_000, 'read live on a1');
    const c = await a2.connect(1);
    const n = a2.connectionNumber;
    await a2.until(() => readBy(a2, chatId, b.userId, seq) && receiptsOf(a2, n).some((r) => r.status === 'delivered' && (r.seqs ?? []).includes(seq)), 10_000, 'replayed receipts on a2');
    expect(receiptsOf(a2, n).filter((r) => r.chatId === chatId && r.userId === b.userId)).toHaveLength(2); // one delivered (a's seqs), one read mark
    // reconnecting again, at once, while nothing changed replays nothing more
    await c.close();
    await a2.connect(0);
    await sleep(1500);
    expect(receiptsOf(a2, a2.connectionNumber).filter((r) => r.chatId === chatId)).toHaveLength(0);
  });

  it('typing in a chat the user is not in is not_member', async () => {
    const [x] = await newUsers(mesh, 1, 'rcx');
    const [xd] = await devicesOf(mesh, x!, 1);
    await online([xd!], [0]);
    await expect(xd!.c.request('typing', { chatId, state: 'typing' })).rejects.toMatchObject({ code: 'not_member' });
    await xd!.disconnect();
  });
});

describe('receipts in groups', () => {
  it('readReceipts:false users neither send nor receive read receipts; delivered still flows', async () => {
    const [s, r1, r2] = await newUsers(mesh, 3, 'rg');
    const [sd] = await devicesOf(mesh, s!, 1);
    const [d1] = await devicesOf(mesh, r1!, 1);
    const [d2, d2b] = await devicesOf(mesh, r2!, 2);
    await online([sd!, d1!, d2!, d2b!], [0, 1, 1, 0]);
    const upd = await d2!.c.request('settings.update', { readReceipts: false });
    expect(upd.settings).toEqual({ lastSeen: 'everyone', readReceipts: false });
    const chat = (await sd!.c.request('chat.create', { type: 'group', name: 'rr', members: [r1!.userId, r2!.userId] })).chat;
    const { seq } = await sd!.c.request('message.send', { chatId: chat.chatId, clientMsgId: 'rg-1-aaaa', body: { text: 'g' } });
    await Promise.all([d1!.waitForSeqs(chat.chatId, [seq]), d2!.waitForSeqs(chat.chatId, [seq])]);
    await d1!.c.request('message.ack', { items: [{ chatId: chat.chatId, seq }] });
    await d2!.c.request('message.ack', { items: [{ chatId: chat.chatId, seq }] });
    await sd!.until(() => deliveredTo(sd!, chat.chatId, r1!.userId, seq) && deliveredTo(sd!, chat.chatId, r2!.userId, seq), 10_000, 'delivered from both');
    await d1!.c.request('message.read', { chatId: chat.chatId, seq });
    await d2!.c.request('message.read', { chatId: chat.chatId, seq });
    await sd!.until(() => readBy(sd!, chat.chatId, r1!.userId, seq), 10_000, 'read from r1');
    // r2's own other device still learns what r2 read (its own devices agree)
    await d2b!.until(() => readBy(d2b!, chat.chatId, r2!.userId, seq), 10_000, 'r2 own read on d2b');
    // r2 (receipts off) sends; r1 reads it: r2 gets no read receipt
    const m2 = await d2!.c.request('message.send', { chatId: chat.chatId, clientMsgId: 'rg-2-bbbb', body: { text: 'from r2' } });
    await d1!.waitForSeqs(chat.chatId, [m2.seq]);
    await d1!.c.request('message.ack', { items: [{ chatId: chat.chatId, seq: m2.seq }] });
    await d1!.c.request('message.read', { chatId: chat.chatId, seq: m2.seq });
    await d2!.until(() => deliveredTo(d2!, chat.chatId, r1!.userId, m2.seq), 10_000, 'r2 gets delivered');
    await sleep(1500);
    expect(readBy(sd!, chat.chatId, r2!.userId, seq)).toBe(false);
    expect(readBy(d2!, chat.chatId, r1!.userId, m2.seq)).toBe(false);
    expect(readBy(d2b!, chat.chatId, r1!.userId, m2.seq)).toBe(false);
    for (const d of [sd!, d1!, d2!, d2b!]) await d.disconnect();
  });

  it('coalesces: a sender gets far fewer frames than members, and every member receipt', async () => {
    const N = 40;
    const [owner, ...members] = await newUsers(mesh, N + 1, 'rco');
    const [od] = await devicesOf(mesh, owner!, 1);
    const mds = (await Promise.all(members.map((m) => devicesOf(mesh, m, 1)))).map((l) => l[0]!);
    await online([od!, ...mds], [0, 1]);
    const chat = (await od!.c.request('chat.create', { type: 'group', name: 'big', members: members.map((m) => m.userId) })).chat;
    const { seq } = await od!.c.request('message.send', { chatId: chat.chatId, clientMsgId: 'rco-1-aaaa', body: { text: 'all' } });
    await Promise.all(mds.map((d) => d.waitForSeqs(chat.chatId, [seq])));
    // `unavailable` (e.g. a deadline on a loaded box) is retryable, as a client would
    await Promise.all(mds.map((d) => retryUnavailable(() => d.c.request('message.ack', { items: [{ chatId: chat.chatId, seq }] }))));
    await Promise.all(mds.map((d) => retryUnavailable(() => d.c.request('message.read', { chatId: chat.chatId, seq }))));
    await od!.until(
      () => members.every((m) => deliveredTo(od!, chat.chatId, m.userId, seq) && readBy(od!, chat.chatId, m.userId, seq)),
      20_000,
      'every delivered and read receipt',
    );
    const frames = receiptFrames(od!, chat.chatId);
    // 2N receipts; one frame per 250 ms window and recipient
    expect(frames).toBeLessThan(N / 2);
    for (const d of [od!, ...mds]) await d.disconnect();
  });
});
