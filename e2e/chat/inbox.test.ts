// protocol.md §8.4 at-least-once per device: the backlog on connect (per-chat seq order, then
// inbox.drained {count}), no redelivery after message.ack, redelivery of everything un-acked.
import { chatMesh, clientMsgId, Device, devicesOf, newUser, sleep, text, type Mesh } from './helpers.js';

let mesh: Mesh;
beforeAll(async () => {
  mesh = await chatMesh();
});
afterAll(async () => {
  await mesh?.stop();
});

it('a device that was offline gets its backlog in per-chat seq order on connect, then inbox.drained {count}', async () => {
  const [alice, bob, carol] = [await newUser(mesh), await newUser(mesh), await newUser(mesh)];
  const [a] = await devicesOf(mesh, alice, 1);
  const [b0, b1] = await devicesOf(mesh, bob, 2);
  const [c] = await devicesOf(mesh, carol, 1);
  await a!.connect(0);
  await c!.connect(1);
  // Bob's first device connects once, drains, then goes offline; his second device has never connected.
  await b0!.connect(1);
  await b0!.waitDrained();
  await b0!.disconnect();

  const g = (await a!.c.request('chat.create', { type: 'group', name: 'offline', members: [bob.userId, carol.userId] })).chat.chatId;
  const d = (await a!.c.request('chat.create', { type: 'direct', userId: bob.userId })).chat.chatId;
  const sent: { chatId: string; seq: number }[] = [];
  for (let i = 0; i < 30; i++) {
    const chatId = i % 3 === 0 ? d : g;
    const dev = i % 2 === 0 ? a! : c!;
    if (chatId === d && dev === c!) continue;
    const r = await dev.c.request('message.send', { chatId, clientMsgId: clientMsgId(), body: text(`m${i}`) });
    sent.push({ chatId, seq: r.seq });
  }
  const hist = async (chatId: string) => (await a!.c.request('message.history', { chatId, limit: 100 })).messages.map((m) => m.seq);
  const expected = { [g]: await hist(g), [d]: await hist(d) };

  for (const dev of [b0!, b1!]) {
    await dev.connect(0);
    const drained = await dev.waitDrained(20_000);
    const backlog = dev.newOf(undefined);
    // Everything bob's chats hold (he is a member from the start), nothing more, nothing twice.
    for (const chatId of [g, d]) {
      const got = backlog.filter((m) => m.chatId === chatId).map((m) => m.seq);
      expect(got).toEqual(expected[chatId]); // per-chat ascending seq, complete
    }
    // inbox.drained comes after the backlog and counts it.
    const evs = dev.eventsOf();
    const drainedAt = evs.findIndex((e) => e.event === 'inbox.drained');
    const lastNew = evs.map((e) => e.event).lastIndexOf('message.new');
    expect(lastNew).toBeLessThan(drainedAt);
    expect(drained.count).toBe(backlog.length);
    expect(drained.count).toBe(expected[g]!.length + expected[d]!.length);
  }
  // session.ready is first, always.
  expect(b1!.eventsOf()[0]!.event).toBe('session.ready');
  for (const x of [a!, b0!, b1!, c!]) await x.disconnect();
});

it('after message.ack a reconnect does not redeliver; un-acked messages are redelivered', async () => {
  const [alice, bob] = [await newUser(mesh), await newUser(mesh)];
  const a = new Device(mesh, alice, 'a');
  const b = new Device(mesh, bob, 'b');
  const b2 = new Device(mesh, bob, 'b2');
  await a.connect(0);
  await b.connect(1);
  await b2.connect(0);
  const id = (await a.c.request('chat.create', { type: 'direct', userId: bob.userId })).chat.chatId;
  const seqs: number[] = [];
  for (let i = 0; i < 10; i++) seqs.push((await a.c.request('message.send', { chatId: id, clientMsgId: clientMsgId(), body: text(`m${i}`) })).seq);
  await b.waitForSeqs(id, seqs);
  await b2.waitForSeqs(id, seqs);
  // b acks 1..6 except 4 (a gap); b2 acks nothing.
  const acked = seqs.slice(0, 6).filter((s) => s !== seqs[3]);
  await b.c.request('message.ack', { items: acked.map((seq) => ({ chatId: id, seq })) });
  // Acks for messages never received and for other chats are ignored.
  await b.c.request('message.ack', { items: [{ chatId: id, seq: 9999 }, { chatId: 'not-a-chat', seq: 1 }] });
  await b.disconnect();
  await b.connect(0);
  const drained = await b.waitDrained();
  const re = b.newOf(undefined, id).map((m) => m.seq);
  // Everything not acked comes back (the gap at seq[3] and everything after 6); acked messages do not.
  for (const s of seqs) {
    if (acked.includes(s)) expect(re).not.toContain(s);
    else expect(re).toContain(s);
  }
  expect(re).toEqual([...re].sort((x, y) => x - y));
  expect(drained.count).toBe(b.newOf().length);
  // Another device's acks do not touch b2's inbox: b2 gets all ten again.
  await b2.disconnect();
  await b2.connect(1);
  await b2.waitDrained();
  expect(b2.newOf(undefined, id).map((m) => m.seq).filter((s) => seqs.includes(s))).toEqual(seqs);
  // Ack the rest on b; the next reconnect delivers nothing of this chat and drains with count 0 for it.
  await b.c.request('message.ack', { items: re.map((seq) => ({ chatId: id, seq })) });
  await b.disconnect();
  await b.connect(1);
  const d3 = await b.waitDrained();
  expect(b.newOf(undefined, id)).toEqual([]);
  expect(d3.count).toBe(b.newOf().length);
  // A new message after that is delivered once, live.
  const late = await a.c.request('message.send', { chatId: id, clientMsgId: clientMsgId(), body: text('late') });
  await b.waitForSeqs(id, [late.seq]);
  await sleep(300);
  expect(b.newOf(undefined, id).map((m) => m.seq)).toEqual([late.seq]);
  for (const x of [a, b, b2]) await x.disconnect();
});

it('a device that never acks keeps getting its whole backlog; messages sent while offline arrive on the next connect', async () => {
  const [alice, bob] = [await newUser(mesh), await newUser(mesh)];
  const a = new Device(mesh, alice, 'a');
  const b = new Device(mesh, bob, 'b');
  await a.connect(1);
  const id = (await a.c.request('chat.create', { type: 'direct', userId: bob.userId })).chat.chatId;
  const first = (await a.c.request('message.send', { chatId: id, clientMsgId: clientMsgId(), body: text('while bob never connected') })).seq;
  await b.connect(0);
  await b.waitForSeqs(id, [first]);
  await b.waitDrained();
  await b.disconnect();
  const second = (await a.c.request('message.send', { chatId: id, clientMsgId: clientMsgId(), body: text('while bob offline') })).seq;
  for (let i = 0; i < 3; i++) {
    await b.connect(i % 2);
    await b.waitDrained();
    const got = b.newOf(undefined, id).map((m) => m.seq);
    expect(got).toEqual(expect.arrayContaining([first, second]));
    await b.disconnect();
  }
  expect(b.deliveryCount(id, first)).toBeGreaterThanOrEqual(4);
  await a.disconnect();
});
