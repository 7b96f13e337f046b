// Crash tests of presence and receipts: a gateway killed with SIGKILL while its users are online, and the
// presence service killed with SIGKILL (presence recovers; an acked message's delivered receipt reaches
// each of the sender's devices exactly once: not again after the restart, a second reader device's ack,
// or reconnects; not zero times to a device that was offline throughout).
import {
  HEARTBEAT_MS,
  deliveredTo,
  devicesOf,
  newUsers,
  presenceEvents,
  presenceMesh,
  receiptsOf,
  sleep,
  type Device,
  type Mesh,
} from './helpers.js';

let mesh: Mesh;
beforeAll(async () => {
  mesh = await presenceMesh();
});
afterAll(async () => {
  await mesh?.stop();
});

const lastOf = (d: Device, userId: string) => presenceEvents(d, userId).at(-1);

it('a gateway killed with SIGKILL does not leave its users online: offline within 2.5 heartbeat intervals', async () => {
  const [w, t] = await newUsers(mesh, 2, 'kg');
  const [wd] = await devicesOf(mesh, w!, 1);
  const [td] = await devicesOf(mesh, t!, 1);
  await wd!.connect(0);
  await td!.connect(1);
  await wd!.c.request('presence.subscribe', { userIds: [t!.userId] });
  await sleep(HEARTBEAT_MS); // at least one presence heartbeat from gateway-1
  const t0 = Date.now();
  await mesh.kill('gateway-1', 'SIGKILL');
  // connections are refreshed every half interval with a 2-interval TTL and swept every 250 ms: ≤ 2.25 intervals
  await wd!.until(() => lastOf(wd!, t!.userId)?.status === 'offline', 2.5 * HEARTBEAT_MS, 'offline after the gateway died');
  const took = Date.now() - t0;
  expect(took).toBeLessThanOrEqual(2.5 * HEARTBEAT_MS);
  expect(lastOf(wd!, t!.userId)!.lastSeen).toBeDefined();
  await mesh.start('gateway-1');
  await wd!.disconnect();
});

/** How many delivered receipts a device got that cover (chat, reader, seq): exactly-once means 1. */
const deliveredCount = (d: Device, chatId: string, reader: string, seq: number) =>
  receiptsOf(d).filter((r) => r.chatId === chatId && r.userId === reader && r.status === 'delivered' && ((r.seqs ?? []).includes(seq) || (r.upToSeq ?? 0) >= seq)).length;

it('presence killed with SIGKILL: presence recovers and each delivered receipt reaches each sender device exactly once, across reconnects', async () => {
  const [a, b, w] = await newUsers(mesh, 3, 'kp');
  const [a1, a2] = await devicesOf(mesh, a!, 2);
  const [b1, b2] = await devicesOf(mesh, b!, 2);
  const [wd] = await devicesOf(mesh, w!, 1);
  await a1!.connect(0);
  await b1!.connect(1);
  await b2!.connect(0);
  await wd!.connect(0);
  await Promise.all([b1!.waitDrained(), b2!.waitDrained()]);
  const chatId = (await a1!.c.request('chat.create', { type: 'direct', userId: b!.userId })).chat.chatId;
  await wd!.c.request('presence.subscribe', { userIds: [b!.userId] });
  const s1 = (await a1!.c.request('message.send', { chatId, clientMsgId: 'kp-1-aaaaaa', body: { text: 'x' } })).seq;
  await Promise.all([b1!.waitForSeqs(chatId, [s1]), b2!.waitForSeqs(chatId, [s1])]);
  // s1: delivered live before the crash
  await b1!.c.request('message.ack', { items: [{ chatId, seq: s1 }] });
  await a1!.until(() => deliveredTo(a1!, chatId, b!.userId, s1), 10_000, 'delivered s1 before the crash');

  await mesh.kill('presence', 'SIGKILL');
  // b's second device acks s1: the message service publishes a second delivered event for it, which the
  // restarted presence handles with no memory of the first (the old in-memory dedupe sent it again)
  await b2!.c.request('message.ack', { items: [{ chatId, seq: s1 }] });
  const s2 = (await a1!.c.request('message.send', { chatId, clientMsgId: 'kp-2-aaaaaa', body: { text: 'y' } })).seq;
  await b1!.waitForSeqs(chatId, [s2]);
  await b1!.c.request('message.ack', { items: [{ chatId, seq: s2 }] }); // the receipt waits in Kafka
  await b1!.disconnect(); // presence cannot be told: its TTL must expire it
  await b2!.disconnect();
  await mesh.start('presence');

  await a1!.until(() => deliveredTo(a1!, chatId, b!.userId, s2), 40_000, 'delivered s2 after the presence restart');
  await wd!.until(() => lastOf(wd!, b!.userId)?.status === 'offline', 15_000, 'b offline after the restart');
  // a2 was offline through all of it: both receipts come from the replay on connect
  await a2!.connect(1);
  await a2!.until(() => deliveredTo(a2!, chatId, b!.userId, s1) && deliveredTo(a2!, chatId, b!.userId, s2), 15_000, 'a2 gets s1 and s2 on connect');
  // reconnects, at once (the old replay resent what went out in the second before a disconnect) and later
  await a1!.disconnect();
  await a1!.connect(1);
  await a2!.disconnect();
  await a2!.connect(0);
  await sleep(1500);
  await a1!.disconnect();
  await a1!.connect(0);
  await sleep(2000);
  for (const d of [a1!, a2!]) {
    expect({ device: d.name, s1: deliveredCount(d, chatId, b!.userId, s1), s2: deliveredCount(d, chatId, b!.userId, s2) }).toEqual({ device: d.name, s1: 1, s2: 1 });
  }
  // presence works again end to end: b comes back online
  await b1!.connect(0);
  await wd!.until(() => lastOf(wd!, b!.userId)?.status === 'online', 5000, 'b online again');
});
