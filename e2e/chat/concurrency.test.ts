// protocol.md §8.2 + §8.4 under concurrency: many devices on both gateways sending to one chat at once
// get seqs 1..n with no gap and no duplicate, and every member device receives every message exactly
// once after dedupe by (chatId, seq). (Live order across concurrent senders is not promised: clients
// order by seq.)
import { chatMesh, clientMsgId, Device, expectContiguous, fullHistory, mapLimit, newUsers, text, type Mesh } from './helpers.js';

let mesh: Mesh;
beforeAll(async () => {
  mesh = await chatMesh();
});
afterAll(async () => {
  await mesh?.stop();
});

it('10 senders on two gateways, 30 messages each, at once: seq 1..n, gap-free, every member device gets all', async () => {
  const SENDERS = 10;
  const PER = 30;
  const users = await newUsers(mesh, SENDERS + 2, 'cc');
  // Each sender user has two devices (one per gateway), plus two listen-only users.
  const devices: Device[] = [];
  for (const [i, u] of users.entries()) {
    for (let k = 0; k < 2; k++) {
      const d = new Device(mesh, u, `${u.username}-${k}`);
      await d.connect((i + k) % 2);
      devices.push(d);
    }
  }
  const admin = devices[0]!;
  const { chat } = await admin.c.request('chat.create', {
    type: 'group',
    name: 'hot chat',
    members: users.slice(1).map((u) => u.userId),
  });
  const id = chat.chatId;
  const base = chat.lastSeq;
  const senders = devices.filter((_, i) => i < SENDERS * 2 && i % 2 === 0); // first device of each sender user
  const replies = (
    await Promise.all(
      senders.map(async (d) => {
        const out: { seq: number; clientMsgId: string; deviceId: string; duplicate: boolean }[] = [];
        await mapLimit(Array.from({ length: PER }, (_, i) => i), 5, async (i) => {
          const cm = clientMsgId(`c${i}`);
          const r = await d.c.request('message.send', { chatId: id, clientMsgId: cm, body: text(`${d.name}:${i}`) });
          out.push({ seq: r.seq, clientMsgId: cm, deviceId: d.deviceId, duplicate: r.duplicate });
        });
        return out;
      }),
    )
  ).flat();
  const n = base + SENDERS * PER;
  expect(replies.every((r) => !r.duplicate)).toBe(true);
  expect(new Set(replies.map((r) => r.seq)).size).toBe(replies.length);
  expectContiguous(replies.map((r) => r.seq), base + 1, n);

  // The log first: each clientMsgId once, seqs 1..n. It also names the sending device of every seq
  // (system messages included), which is the one device that must not receive it.
  const h = await fullHistory(devices[3]!.c, id);
  expectContiguous(h.map((m) => m.seq), 1, n);
  const cms = h.filter((m) => m.kind === 'user').map((m) => m.clientMsgId);
  expect(new Set(cms).size).toBe(cms.length);
  expect(cms.length).toBe(SENDERS * PER);
  const senderOf = new Map(h.map((m) => [m.seq, m.sender.deviceId]));
  for (const r of replies) expect(senderOf.get(r.seq)).toBe(r.deviceId);
  const expectedFor = (d: Device) => h.filter((m) => m.sender.deviceId !== d.deviceId).map((m) => m.seq);

  await Promise.all(devices.map((d) => d.waitForSeqs(id, expectedFor(d), 60_000)));
  const byClient = new Map(h.map((m) => [m.seq, m.clientMsgId]));
  for (const d of devices) {
    // Exactly the others' messages, once each after dedupe by (chatId, seq) — never its own.
    expect(d.seqs(id)).toEqual(expectedFor(d));
    // What each device received is what was committed at that seq.
    for (const s of d.seqs(id)) expect(d.messages.get(id)!.get(s)!.clientMsgId).toBe(byClient.get(s));
  }
  await Promise.all(devices.map((d) => d.disconnect()));
});

it('concurrent membership changes and sends share one gap-free sequence', async () => {
  const users = await newUsers(mesh, 8, 'cm');
  const devs = await Promise.all(
    users.map(async (u, i) => {
      const d = new Device(mesh, u, u.username);
      await d.connect(i % 2);
      return d;
    }),
  );
  const admin = devs[0]!;
  const { chat } = await admin.c.request('chat.create', { type: 'group', name: 'churn', members: users.slice(1, 4).map((u) => u.userId) });
  const id = chat.chatId;
  await admin.c.request('chat.members.role', { chatId: id, userId: users[1]!.userId, role: 'admin' });
  const ops: Promise<unknown>[] = [];
  for (let i = 0; i < 20; i++) {
    ops.push(devs[i % 4]!.c.request('message.send', { chatId: id, clientMsgId: clientMsgId(), body: text(`s${i}`) }));
  }
  ops.push(admin.c.request('chat.members.add', { chatId: id, userIds: [users[4]!.userId] }));
  ops.push(devs[1]!.c.request('chat.members.add', { chatId: id, userIds: [users[5]!.userId] }));
  ops.push(admin.c.request('chat.update', { chatId: id, name: 'churn 2' }));
  ops.push(devs[1]!.c.request('chat.members.add', { chatId: id, userIds: [users[6]!.userId, users[7]!.userId] }));
  await Promise.all(ops);
  const h = await fullHistory(admin.c, id);
  const last = (await admin.c.request('chat.get', { chatId: id })).chat.lastSeq;
  expectContiguous(h.map((m) => m.seq), 1, last);
  expect(h.filter((m) => m.kind === 'user')).toHaveLength(20);
  expect(h.filter((m) => m.kind === 'system').map((m) => m.system!.action).sort()).toEqual(
    ['created', 'members.added', 'members.added', 'members.added', 'renamed', 'role'].sort(),
  );
  // Each late joiner's history starts exactly at the seq of its own members.added.
  for (const u of users.slice(4)) {
    const addedAt = h.find((m) => m.system?.action === 'members.added' && m.system.userIds?.includes(u.userId))!.seq;
    const d = devs[users.indexOf(u)]!;
    const mine = await fullHistory(d.c, id);
    expect(mine[0]!.seq).toBe(addedAt);
    expectContiguous(mine.map((m) => m.seq), addedAt, last);
    await d.waitForSeqs(id, [addedAt]);
    expect(Math.min(...d.seqs(id))).toBe(addedAt);
  }
  await Promise.all(devs.map((d) => d.disconnect()));
});
