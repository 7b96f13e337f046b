// protocol.md §4 chat.*: direct and group chats, get/list, admin rules, keep-one-admin, and chat.updated
// delivered to members' devices. Clients sit on both gateways so every notification crosses gateways.
import { chatMesh, Device, errorCode, memberIds, newUser, roleOf, clientMsgId, text, type Mesh, type User } from './helpers.js';
import type { Chat } from '@parley/client';

let mesh: Mesh;
beforeAll(async () => {
  mesh = await chatMesh();
});
afterAll(async () => {
  await mesh?.stop();
});

async function online(u: User, gw: number, name = 'd'): Promise<Device> {
  const d = new Device(mesh, u, `${u.username}-${name}`);
  await d.connect(gw);
  return d;
}

describe('direct chats', () => {
  it('the same two users always get the same chat, whoever creates it', async () => {
    const [alice, bob] = [await newUser(mesh), await newUser(mesh)];
    const a = await online(alice, 0);
    const b = await online(bob, 1);
    const c1 = (await a.c.request('chat.create', { type: 'direct', userId: bob.userId })).chat;
    expect(c1.type).toBe('direct');
    expect(memberIds(c1)).toEqual([alice.userId, bob.userId].sort());
    expect(c1.name).toBeUndefined();
    const c2 = (await b.c.request('chat.create', { type: 'direct', userId: alice.userId })).chat;
    const c3 = (await a.c.request('chat.create', { type: 'direct', userId: bob.userId })).chat;
    expect(c2.chatId).toBe(c1.chatId);
    expect(c3.chatId).toBe(c1.chatId);
    // Concurrent creation from both sides still converges on one chat.
    const [carol, dave] = [await newUser(mesh), await newUser(mesh)];
    const c = await online(carol, 0);
    const d = await online(dave, 1);
    const both = await Promise.all([
      c.c.request('chat.create', { type: 'direct', userId: dave.userId }),
      d.c.request('chat.create', { type: 'direct', userId: carol.userId }),
      c.c.request('chat.create', { type: 'direct', userId: dave.userId }),
    ]);
    expect(new Set(both.map((r) => r.chat.chatId)).size).toBe(1);
    // Both sides can read it and it is in both lists exactly once.
    expect((await b.c.request('chat.get', { chatId: c1.chatId })).chat.chatId).toBe(c1.chatId);
    for (const dev of [a, b]) {
      const { chats } = await dev.c.request('chat.list', {});
      expect(chats.filter((x) => x.chatId === c1.chatId)).toHaveLength(1);
    }
    for (const x of [a, b, c, d]) await x.disconnect();
  });

  it('a direct chat with an unknown user is refused; a direct chat cannot be renamed or grown', async () => {
    const alice = await newUser(mesh);
    const bob = await newUser(mesh);
    const carol = await newUser(mesh);
    const a = await online(alice, 0);
    expect(await errorCode(a.c.request('chat.create', { type: 'direct', userId: 'no-such-user-0000' }))).toMatch(/^(not_found|bad_request)$/);
    const { chat } = await a.c.request('chat.create', { type: 'direct', userId: bob.userId });
    expect(await errorCode(a.c.request('chat.update', { chatId: chat.chatId, name: 'x' }))).toMatch(/^(bad_request|forbidden)$/);
    expect(await errorCode(a.c.request('chat.members.add', { chatId: chat.chatId, userIds: [carol.userId] }))).toMatch(/^(bad_request|forbidden)$/);
    expect(memberIds((await a.c.request('chat.get', { chatId: chat.chatId })).chat)).toEqual([alice.userId, bob.userId].sort());
    await a.disconnect();
  });
});

describe('groups', () => {
  it('the creator is the first admin, the listed users are members, and every member device learns of it', async () => {
    const [alice, bob, carol] = [await newUser(mesh), await newUser(mesh), await newUser(mesh)];
    const a = await online(alice, 0);
    const b0 = await online(bob, 0, 'd0');
    const b1 = await online(bob, 1, 'd1');
    const c = await online(carol, 1);
    const { chat } = await a.c.request('chat.create', { type: 'group', name: 'Trip', members: [bob.userId, carol.userId, bob.userId] });
    expect(chat.type).toBe('group');
    expect(chat.name).toBe('Trip');
    expect(memberIds(chat)).toEqual([alice.userId, bob.userId, carol.userId].sort());
    expect(roleOf(chat, alice.userId)).toBe('admin');
    expect(roleOf(chat, bob.userId)).toBe('member');
    expect(roleOf(chat, carol.userId)).toBe('member');
    expect(chat.lastSeq).toBeGreaterThanOrEqual(1);
    expect(Number.isNaN(Date.parse(chat.createdAt))).toBe(false);
    // The creation is the first message of the sequence, a system message every member device receives.
    for (const d of [b0, b1, c]) await d.waitForSeqs(chat.chatId, [1]);
    const first = b0.messages.get(chat.chatId)!.get(1)!;
    expect(first.kind).toBe('system');
    expect(first.system?.action).toBe('created');
    expect(first.system?.actor).toBe(alice.userId);
    // Every member can get it; the creator's own get agrees with the create reply.
    for (const d of [a, b1, c]) {
      const got = (await d.c.request('chat.get', { chatId: chat.chatId })).chat;
      expect(got.chatId).toBe(chat.chatId);
      expect(memberIds(got)).toEqual(memberIds(chat));
    }
    for (const d of [a, b0, b1, c]) await d.disconnect();
  });

  it('chat.get by a non-member is not_member; chat.list lists only my chats, newest activity first', async () => {
    const [alice, bob, eve] = [await newUser(mesh), await newUser(mesh), await newUser(mesh)];
    const a = await online(alice, 0);
    const b = await online(bob, 1);
    const e = await online(eve, 1);
    const g1 = (await a.c.request('chat.create', { type: 'group', name: 'one', members: [bob.userId] })).chat;
    const g2 = (await a.c.request('chat.create', { type: 'group', name: 'two', members: [bob.userId] })).chat;
    const d3 = (await b.c.request('chat.create', { type: 'direct', userId: alice.userId })).chat;
    expect(await errorCode(e.c.request('chat.get', { chatId: g1.chatId }))).toBe('not_member');
    expect(await errorCode(e.c.request('chat.get', { chatId: d3.chatId }))).toBe('not_member');
    expect((await e.c.request('chat.list', {})).chats.map((x) => x.chatId)).toEqual([]);

    const order = async (d: Device) => (await d.c.request('chat.list', {})).chats.map((x) => x.chatId).filter((id) => [g1.chatId, g2.chatId, d3.chatId].includes(id));
    await b.c.request('message.send', { chatId: d3.chatId, clientMsgId: clientMsgId(), body: text('hi') });
    await new Promise((r) => setTimeout(r, 20));
    await b.c.request('message.send', { chatId: g1.chatId, clientMsgId: clientMsgId(), body: text('bump one') });
    expect(await order(a)).toEqual([g1.chatId, d3.chatId, g2.chatId]);
    expect(await order(b)).toEqual([g1.chatId, d3.chatId, g2.chatId]);
    await new Promise((r) => setTimeout(r, 20));
    await a.c.request('message.send', { chatId: g2.chatId, clientMsgId: clientMsgId(), body: text('bump two') });
    expect(await order(a)).toEqual([g2.chatId, g1.chatId, d3.chatId]);
    expect(await order(b)).toEqual([g2.chatId, g1.chatId, d3.chatId]);
    for (const d of [a, b, e]) await d.disconnect();
  });

  it('admin rules: only admins rename, add, remove others and change roles; members may leave', async () => {
    const [alice, bob, carol, dave] = [await newUser(mesh), await newUser(mesh), await newUser(mesh), await newUser(mesh)];
    const a = await online(alice, 0);
    const b = await online(bob, 1);
    const c = await online(carol, 0);
    const d = await online(dave, 1);
    const { chat } = await a.c.request('chat.create', { type: 'group', name: 'rules', members: [bob.userId, carol.userId] });
    const id = chat.chatId;

    // A plain member may do none of the admin things.
    expect(await errorCode(b.c.request('chat.update', { chatId: id, name: 'mine' }))).toBe('forbidden');
    expect(await errorCode(b.c.request('chat.members.add', { chatId: id, userIds: [dave.userId] }))).toBe('forbidden');
    expect(await errorCode(b.c.request('chat.members.remove', { chatId: id, userIds: [carol.userId] }))).toBe('forbidden');
    expect(await errorCode(b.c.request('chat.members.role', { chatId: id, userId: bob.userId, role: 'admin' }))).toBe('forbidden');
    // A non-member gets not_member for all of them.
    for (const p of [
      d.c.request('chat.update', { chatId: id, name: 'x' }),
      d.c.request('chat.members.add', { chatId: id, userIds: [dave.userId] }),
      d.c.request('chat.members.remove', { chatId: id, userIds: [dave.userId] }),
      d.c.request('chat.members.role', { chatId: id, userId: dave.userId, role: 'admin' }),
    ]) expect(await errorCode(p)).toBe('not_member');
    // Nothing changed.
    const same = (await a.c.request('chat.get', { chatId: id })).chat;
    expect(same.name).toBe('rules');
    expect(memberIds(same)).toEqual([alice.userId, bob.userId, carol.userId].sort());
    expect(roleOf(same, bob.userId)).toBe('member');

    // The admin can.
    expect((await a.c.request('chat.update', { chatId: id, name: 'renamed' })).chat.name).toBe('renamed');
    const added = (await a.c.request('chat.members.add', { chatId: id, userIds: [dave.userId] })).chat;
    expect(roleOf(added, dave.userId)).toBe('member');
    const promoted = (await a.c.request('chat.members.role', { chatId: id, userId: bob.userId, role: 'admin' })).chat;
    expect(roleOf(promoted, bob.userId)).toBe('admin');
    // Now bob is an admin and can remove carol.
    const removed = (await b.c.request('chat.members.remove', { chatId: id, userIds: [carol.userId] })).chat;
    expect(memberIds(removed)).toEqual([alice.userId, bob.userId, dave.userId].sort());
    expect(await errorCode(c.c.request('chat.get', { chatId: id }))).toBe('not_member');
    // Dave, a plain member, leaves by removing himself.
    const left = (await d.c.request('chat.members.remove', { chatId: id, userIds: [dave.userId] })).chat;
    expect(memberIds(left)).toEqual([alice.userId, bob.userId].sort());
    expect(await errorCode(d.c.request('chat.get', { chatId: id }))).toBe('not_member');
    // Every change was a system message in the sequence: created, renamed, added, role, removed, left.
    const { messages } = await a.c.request('message.history', { chatId: id });
    expect(messages.map((m) => m.kind)).toEqual(['system', 'system', 'system', 'system', 'system', 'system']);
    expect(messages.map((m) => m.system?.action)).toEqual(['created', 'renamed', 'members.added', 'role', 'members.removed', 'members.removed']);
    expect(messages.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(messages[1]!.system?.name).toBe('renamed');
    expect(messages[2]!.system?.userIds).toEqual([dave.userId]);
    expect(messages[4]!.system).toMatchObject({ actor: bob.userId, userIds: [carol.userId] });
    expect(messages[5]!.system).toMatchObject({ actor: dave.userId, userIds: [dave.userId] });
    for (const x of [a, b, c, d]) await x.disconnect();
  });

  it('a group always keeps at least one admin', async () => {
    const [alice, bob, carol] = [await newUser(mesh), await newUser(mesh), await newUser(mesh)];
    const a = await online(alice, 0);
    const b = await online(bob, 1);
    const { chat } = await a.c.request('chat.create', { type: 'group', name: 'admins', members: [bob.userId, carol.userId] });
    const id = chat.chatId;
    // The only admin cannot demote itself.
    expect(await errorCode(a.c.request('chat.members.role', { chatId: id, userId: alice.userId, role: 'member' }))).toBe('conflict');
    expect(roleOf((await a.c.request('chat.get', { chatId: id })).chat, alice.userId)).toBe('admin');
    // With a second admin it can.
    await a.c.request('chat.members.role', { chatId: id, userId: bob.userId, role: 'admin' });
    const demoted = (await a.c.request('chat.members.role', { chatId: id, userId: alice.userId, role: 'member' })).chat;
    expect(roleOf(demoted, alice.userId)).toBe('member');
    expect(roleOf(demoted, bob.userId)).toBe('admin');
    // Bob, now the only admin, cannot be demoted by anyone, and alice (a member) cannot act as admin.
    expect(await errorCode(b.c.request('chat.members.role', { chatId: id, userId: bob.userId, role: 'member' }))).toBe('conflict');
    expect(await errorCode(a.c.request('chat.members.role', { chatId: id, userId: bob.userId, role: 'member' }))).toBe('forbidden');
    // When the last admin leaves, the remaining members still have an admin.
    const after = (await b.c.request('chat.members.remove', { chatId: id, userIds: [bob.userId] })).chat;
    expect(memberIds(after)).toEqual([alice.userId, carol.userId].sort());
    expect(after.members.some((m) => m.role === 'admin')).toBe(true);
    const fresh = (await a.c.request('chat.get', { chatId: id })).chat;
    expect(fresh.members.some((m) => m.role === 'admin')).toBe(true);
    for (const x of [a, b]) await x.disconnect();
  });

  it('chat.updated reaches every device of every member, on both gateways, including the actor\'s other devices', async () => {
    const [alice, bob, carol, dave] = [await newUser(mesh), await newUser(mesh), await newUser(mesh), await newUser(mesh)];
    const a0 = await online(alice, 0, 'd0');
    const a1 = await online(alice, 1, 'd1');
    const b0 = await online(bob, 0, 'd0');
    const b1 = await online(bob, 1, 'd1');
    const c = await online(carol, 1);
    const d = await online(dave, 0);
    const { chat } = await a0.c.request('chat.create', { type: 'group', name: 'news', members: [bob.userId, carol.userId] });
    const id = chat.chatId;
    const updated = (dev: Device, pred: (c: Chat) => boolean) =>
      dev.c.waitForEvent('chat.updated', (x) => x.chat.chatId === id && pred(x.chat), 10_000);

    await a0.c.request('chat.update', { chatId: id, name: 'news2' });
    await Promise.all([a1, b0, b1, c].map((dev) => updated(dev, (x) => x.name === 'news2')));

    await a0.c.request('chat.members.add', { chatId: id, userIds: [dave.userId] });
    // The new member learns of the chat too.
    await Promise.all([a1, b0, b1, c, d].map((dev) => updated(dev, (x) => x.members.some((m) => m.userId === dave.userId))));

    await a0.c.request('chat.members.role', { chatId: id, userId: carol.userId, role: 'admin' });
    await Promise.all([a1, b1, c, d].map((dev) => updated(dev, (x) => roleOf(x, carol.userId) === 'admin')));

    await a0.c.request('chat.members.remove', { chatId: id, userIds: [bob.userId] });
    // The remaining members see bob gone; bob's devices are told too (their chat list changes).
    await Promise.all([a1, c, d].map((dev) => updated(dev, (x) => !x.members.some((m) => m.userId === bob.userId))));
    await Promise.all([b0, b1].map((dev) => updated(dev, (x) => !x.members.some((m) => m.userId === bob.userId))));
    // A user who never was a member hears nothing about it.
    const eve = await newUser(mesh);
    const e = await online(eve, 1);
    await a0.c.request('chat.update', { chatId: id, name: 'news3' });
    await updated(c, (x) => x.name === 'news3');
    await new Promise((r) => setTimeout(r, 500));
    expect(e.log.some((l) => l.ev.event === 'chat.updated')).toBe(false);
    // Bob, removed, does not hear about later changes.
    expect(b0.eventsOf().some((ev) => ev.event === 'chat.updated' && (ev.data as { chat: Chat }).chat.name === 'news3')).toBe(false);
    for (const x of [a0, a1, b0, b1, c, d, e]) await x.disconnect();
  });
});
