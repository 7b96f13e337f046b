// protocol.md §8.2, last sentence: sends that arrive on one connection for one chat get increasing seqs in
// the order they arrive, however many are in flight. Two devices of one user (one per gateway) each
// pipeline hundreds of sends into one chat at once, without waiting for replies, while other chats carry
// background load; every reply's seq must increase in the order the device sent.
import { chatMesh, clientMsgId, Device, expectContiguous, fullHistory, newUsers, sleep, text, type Mesh } from './helpers.js';

let mesh: Mesh;
beforeAll(async () => {
  // No shedding in this suite (e2e/chat/overload covers it): every pipelined send must be accepted.
  mesh = await chatMesh({ GATEWAY_MAX_INFLIGHT_SENDS: '5000', MESSAGE_MAX_INFLIGHT_SENDS: '10000' });
});
afterAll(async () => {
  await mesh?.stop();
});

it('two devices pipelining 300 sends each into one chat, under load: seqs follow each device’s send order', async () => {
  const PER = 300;
  const [alice, bob, ...others] = await newUsers(mesh, 2 + 8, 'po');
  const a0 = new Device(mesh, alice!, 'alice-0');
  const a1 = new Device(mesh, alice!, 'alice-1');
  const b = new Device(mesh, bob!, 'bob');
  await a0.connect(0);
  await a1.connect(1);
  await b.connect(0);
  const { chat } = await a0.c.request('chat.create', { type: 'direct', userId: bob!.userId });
  const id = chat.chatId;

  // Background load: four other direct chats, each sending steadily until the pipelines are done.
  const bg: Device[] = [];
  for (let i = 0; i < others.length; i += 2) {
    const s = new Device(mesh, others[i]!, `bg-${i}`);
    await s.connect(i % 4 === 0 ? 1 : 0);
    const { chat: c } = await s.c.request('chat.create', { type: 'direct', userId: others[i + 1]!.userId });
    bg.push(Object.assign(s, { bgChat: c.chatId }));
  }
  let stop = false;
  const background = Promise.all(
    bg.map(async (s) => {
      let n = 0;
      while (!stop && n < 2000) {
        await s.c.request('message.send', { chatId: (s as unknown as { bgChat: string }).bgChat, clientMsgId: clientMsgId('bg'), body: text(`bg ${n++}`) });
      }
      return n;
    }),
  );
  await sleep(300);

  const pipeline = (d: Device) => {
    // All requests are written to the socket before the first reply can arrive.
    const ps = Array.from({ length: PER }, (_, i) => {
      const cm = clientMsgId(`${d.name}-${String(i).padStart(4, '0')}`);
      return d.c.request('message.send', { chatId: id, clientMsgId: cm, body: text(`${d.name} ${i}`) }).then((r) => ({ ...r, cm }));
    });
    return Promise.all(ps);
  };
  const [r0, r1] = await Promise.all([pipeline(a0), pipeline(a1)]);
  stop = true;
  const bgCount = (await background).reduce((x, y) => x + y, 0);
  expect(bgCount).toBeGreaterThan(0);

  for (const rs of [r0, r1]) {
    expect(rs.every((r) => !r.duplicate)).toBe(true);
    const seqs = rs.map((r) => r.seq);
    for (let i = 1; i < seqs.length; i++) expect(seqs[i]!).toBeGreaterThan(seqs[i - 1]!);
  }
  // Together: one gap-free sequence after the creation message.
  expectContiguous([...r0, ...r1].map((r) => r.seq).sort((x, y) => x - y), chat.lastSeq + 1, chat.lastSeq + 2 * PER);
  // And the log agrees with the replies (each seq holds the message its reply named).
  const h = await fullHistory(b.c, id);
  const bySeq = new Map(h.map((m) => [m.seq, m.clientMsgId]));
  for (const r of [...r0, ...r1]) expect(bySeq.get(r.seq)).toBe(r.cm);
  await Promise.all([a0, a1, b, ...bg].map((d) => d.disconnect()));
});
