// Issue 15: limits a new device does not reset. Per-user, cluster-wide budgets for chat creation and for
// members added (shared by every device of the user, on both gateways, and by both group replicas' Redis),
// and a per-user cap on active devices (docs/protocol.md §D).
import { ParleyHttp, ParleyRequestError } from '@parley/client';
import { chatMesh, Device, errorCode, newUser, newUsers, type Mesh } from './helpers.js';

let mesh: Mesh;
beforeAll(async () => {
  mesh = await chatMesh({
    GROUP_RATE_CREATE_PER_MINUTE: '1',
    GROUP_RATE_CREATE_BURST: '3',
    GROUP_RATE_MEMBERS_ADDED_PER_MINUTE: '1',
    GROUP_RATE_MEMBERS_ADDED_BURST: '6',
    SESSION_MAX_DEVICES_PER_USER: '3',
  });
});
afterAll(async () => {
  await mesh?.stop();
});

it('chat creation is budgeted per user across devices and gateways', async () => {
  const alice = await newUser(mesh);
  const [bob] = await newUsers(mesh, 1);
  const d1 = new Device(mesh, alice, 'a1');
  const d2 = new Device(mesh, alice, 'a2');
  await d1.connect(0);
  await d2.connect(1);
  await d1.c.request('chat.create', { type: 'group', name: 'g1', members: [] });
  await d2.c.request('chat.create', { type: 'group', name: 'g2', members: [] });
  await d1.c.request('chat.create', { type: 'direct', userId: bob!.userId });
  // The fourth, from either device on either gateway: rate_limited with retryAfterMs.
  for (const d of [d2, d1]) {
    const err = await d.c.request('chat.create', { type: 'group', name: 'g4', members: [] }).then(
      () => undefined,
      (e: unknown) => e as ParleyRequestError,
    );
    expect(err).toBeInstanceOf(ParleyRequestError);
    expect(err?.code).toBe('rate_limited');
    expect(err?.retryAfterMs).toBeGreaterThan(0);
  }
  // Another user is unaffected.
  const carolDev = new Device(mesh, bob!, 'b1');
  await carolDev.connect(0);
  await carolDev.c.request('chat.create', { type: 'group', name: 'b', members: [] });
  await Promise.all([d1.disconnect(), d2.disconnect(), carolDev.disconnect()]);
});

it('members added are budgeted per user, counting every userId, in chat.create and chat.members.add', async () => {
  const owner = await newUser(mesh);
  const others = await newUsers(mesh, 8);
  const d = new Device(mesh, owner, 'o1');
  await d.connect(1);
  const g = (await d.c.request('chat.create', { type: 'group', name: 'big', members: others.slice(0, 4).map((u) => u.userId) })).chat;
  await d.c.request('chat.members.add', { chatId: g.chatId, userIds: [others[4]!.userId, others[5]!.userId] });
  expect(await errorCode(d.c.request('chat.members.add', { chatId: g.chatId, userIds: [others[6]!.userId] }))).toBe('rate_limited');
  // The refused add changed nothing.
  const after = (await d.c.request('chat.get', { chatId: g.chatId })).chat;
  expect(after.members.map((m: { userId: string }) => m.userId)).not.toContain(others[6]!.userId);
  await d.disconnect();
});

it('caps the active devices of a user (409 conflict), and removing one makes room', async () => {
  const u = await newUser(mesh);
  const http = new ParleyHttp(mesh.gatewayUrls[0]!);
  const tokens = [];
  for (let i = 0; i < 3; i++) tokens.push(await new ParleyHttp(mesh.gatewayUrls[i % 2]!).login({ username: u.username, password: u.password }));
  const refused = await http.raw<{ error: { code: string; message: string } }>('POST', '/v1/sessions', { username: u.username, password: u.password });
  expect(refused.status).toBe(409);
  expect(refused.body.error.code).toBe('conflict');
  expect(refused.body.error.message).toMatch(/device limit/);
  const del = await http.raw('DELETE', `/v1/devices/${tokens[0]!.deviceId}`, undefined, { token: tokens[1]!.accessToken });
  expect(del.status).toBe(204);
  expect((await new ParleyHttp(mesh.gatewayUrls[1]!).login({ username: u.username, password: u.password })).userId).toBe(u.userId);
});
