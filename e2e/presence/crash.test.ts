// Crash tests of presence and receipts: a gateway killed with SIGKILL while its users are online, and the
// presence service killed with SIGKILL (presence recovers; an acked message's delivered receipt reaches
// the sender's device, once, also across a reconnect).
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
  await wd!.until(() => lastOf(wd!, t!.userId)?.status === 'offline', 2.5 * HEARTBEAT_MS + 1000, 'offline after the gateway died');
  const took = Date.now() - t0;
  expect(took).toBeLessThanOrEqual(2.5 * HEARTBEAT_MS + 500);
  expect(lastOf(wd!, t!.userId)!.lastSeen).toBeDefined();
  await mesh.start('gateway-1');
  await wd!.disconnect();
});

it('presence killed with SIGKILL: presence recovers and the delivered receipt of an acked message arrives once per device', async () => {
  const [a, b, w] = await newUsers(mesh, 3, 'kp');
  const [a1] = await devicesOf(mesh, a!, 1);
  const [b1] = await devicesOf(mesh, b!, 1);
  const [wd] = await devicesOf(mesh, w!, 1);
  await a1!.connect(0);
  await b1!.connect(1);
  await wd!.connect(0);
  await b1!.waitDrained();
  const chatId = (await a1!.c.request('chat.create', { type: 'direct', userId: b!.userId })).chat.chatId;
  await wd!.c.request('presence.subscribe', { userIds: [b!.userId] });
  const { seq } = await a1!.c.request('message.send', { chatId, clientMsgId: 'kp-1-aaaaaa', body: { text: 'x' } });
  await b1!.waitForSeqs(chatId, [seq]);

  await mesh.kill('presence', 'SIGKILL');
  await b1!.c.request('message.ack', { items: [{ chatId, seq }] }); // the receipt waits in Kafka
  await b1!.disconnect(); // presence cannot be told: its TTL must expire it
  await mesh.start('presence');

  await a1!.until(() => deliveredTo(a1!, chatId, b!.userId, seq), 40_000, 'delivered after the presence restart');
  await wd!.until(() => lastOf(wd!, b!.userId)?.status === 'offline', 15_000, 'b offline after the restart');
  await sleep(1500);
  await a1!.disconnect();
  await sleep(300);
  await a1!.connect(1);
  await sleep(2000);
  const delivered = receiptsOf(a1!).filter((r) => r.chatId === chatId && r.status === 'delivered' && ((r.seqs ?? []).includes(seq) || (r.upToSeq ?? 0) >= seq));
  expect(delivered).toHaveLength(1);
  // presence works again end to end: b comes back online
  await b1!.connect(0);
  await wd!.until(() => lastOf(wd!, b!.userId)?.status === 'online', 5000, 'b online again');
});
