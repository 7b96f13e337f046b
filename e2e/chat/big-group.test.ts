// A 1,024-member group end to end (protocol.md §8.4 at scale): 1,024 accounts over HTTP, one group with
// all of them, every member's device connected on one of the two gateways. Every online member gets the
// message live (exactly the committed message), and every member's history shows it; members who were
// offline get it in their backlog. Not asserted on time: the bench measures fan-out latency.
import { chatMesh, clientMsgId, Device, mapLimit, newUsers, text, type Mesh } from './helpers.js';

const MEMBERS = 1024;
const OFFLINE = 24; // members whose device is not connected when the messages are sent

let mesh: Mesh;
beforeAll(async () => {
  mesh = await chatMesh();
}, 180_000);
afterAll(async () => {
  await mesh?.stop();
});

it('a 1,024-member group: created in one request, every member device receives the messages', async () => {
  const users = await newUsers(mesh, MEMBERS, 'bg', 32);
  expect(new Set(users.map((u) => u.userId)).size).toBe(MEMBERS);
  const devices = await mapLimit(users, 32, async (u) => new Device(mesh, u, u.username).login());
  const online = devices.slice(0, MEMBERS - OFFLINE);
  const offline = devices.slice(MEMBERS - OFFLINE);
  await mapLimit(online, 32, async (d, i) => {
    await d.connect(i % 2);
  });

  const admin = online[0]!;
  const { chat } = await admin.c.request(
    'chat.create',
    { type: 'group', name: 'everyone', members: users.slice(1).map((u) => u.userId) },
    { timeoutMs: 60_000 },
  );
  expect(chat.members).toHaveLength(MEMBERS);
  expect(chat.members.filter((m) => m.role === 'admin').map((m) => m.userId)).toEqual([admin.userId]);
  const id = chat.chatId;

  // Two senders, on different gateways: the admin and an ordinary member.
  const r1 = await admin.c.request('message.send', { chatId: id, clientMsgId: clientMsgId(), body: text('hello 1,024') }, { timeoutMs: 30_000 });
  const r2 = await online[1]!.c.request('message.send', { chatId: id, clientMsgId: clientMsgId(), body: text('hi all') }, { timeoutMs: 30_000 });
  expect(r2.seq).toBe(r1.seq + 1);

  // Every online member device gets both live (minus its own), exactly as committed.
  await Promise.all(
    online.map((d) => d.waitForSeqs(id, [r1.seq, r2.seq].filter((s) => !(d === admin && s === r1.seq) && !(d === online[1] && s === r2.seq)), 120_000)),
  );
  for (const d of online) {
    if (d !== admin) expect(d.messages.get(id)!.get(r1.seq)).toMatchObject({ messageId: r1.messageId, body: { text: 'hello 1,024' }, sender: { userId: admin.userId } });
  }
  expect(admin.has(id, r1.seq)).toBe(false);

  // Every member's history shows both.
  await mapLimit(online, 32, async (d) => {
    const { messages } = await d.c.request('message.history', { chatId: id, afterSeq: r1.seq - 1, limit: 10 });
    expect(messages.map((m) => m.messageId)).toEqual([r1.messageId, r2.messageId]);
  });

  // The offline members get the creation and both messages in their backlog when they connect.
  await mapLimit(offline, 8, async (d, i) => {
    await d.connect(i % 2);
    await d.waitDrained(60_000);
    expect(d.seqs(id)).toEqual(expect.arrayContaining([1, r1.seq, r2.seq]));
    const { messages } = await d.c.request('message.history', { chatId: id, limit: 10 });
    expect(messages.map((m) => m.seq)).toEqual(expect.arrayContaining([1, r1.seq, r2.seq]));
  });
  await mapLimit(devices, 64, (d) => d.disconnect());
}, 600_000);
