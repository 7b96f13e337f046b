import { ParleyError } from '@parley/kit';
import { ChatManager, type ChatManagerOptions } from './chat-manager.js';
import { MemoryChatStore, MemoryMessageLog, MemoryUsers, RecordingEvents } from './fakes.test-support.js';

function setup(opts: Partial<ChatManagerOptions> = {}) {
  const store = new MemoryChatStore();
  const log = new MemoryMessageLog();
  const users = new MemoryUsers(new Set(['a', 'b', 'c', 'd', 'e']));
  const events = new RecordingEvents();
  let now = 1_000;
  let id = 0;
  const m = new ChatManager(store, log, users, events, {
    maxMembers: 4,
    listLimit: 500,
    staleOpMs: 3_000,
    busyWaitMs: 50,
    now: () => now,
    newId: () => `op${++id}`,
    ...opts,
  });
  return { m, store, log, users, events, advance: (ms: number) => (now += ms) };
}

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ParleyError) return e.code;
    throw e;
  }
  return 'ok';
}

describe('ChatManager', () => {
  it('direct chats: same chat both ways, seq 1 is `created`, both members joined at 1', async () => {
    const { m, log, store } = setup();
    const c1 = await m.createDirect('a', 'b');
    const c2 = await m.createDirect('b', 'a');
    expect(c2.chatId).toBe(c1.chatId);
    expect(c1.lastSeq).toBe(1);
    expect(log.log.get(c1.chatId)).toEqual([{ seq: 1, key: 'op1', event: { action: 'created', actor: 'a', userIds: ['a', 'b'] } }]);
    const { members } = await store.getMembers(c1.chatId);
    expect(members.map((r) => [r.userId, r.joinedSeq, r.leftSeq, r.pending])).toEqual([
      ['a', 1, 0, false],
      ['b', 1, 0, false],
    ]);
    expect(await code(m.createDirect('a', 'a'))).toBe('bad_request');
    expect(await code(m.createDirect('a', 'nobody'))).toBe('not_found');
    expect(await code(m.getChat('c', c1.chatId))).toBe('not_member');
  });

  it('group lifecycle records every change in the sequence with seq bounds', async () => {
    const { m, log, store, events } = setup();
    const g = await m.createGroup('a', 'Team', ['b']);
    expect(g.members).toEqual([
      { userId: 'a', role: 'admin' },
      { userId: 'b', role: 'member' },
    ]);
    await m.addMembers('a', g.chatId, ['c', 'b']); // b is a no-op
    await m.rename('a', g.chatId, 'Renamed');
    await m.setRole('a', g.chatId, 'c', 'admin');
    await m.removeMembers('c', g.chatId, ['b']);
    const final = await m.getChat('a', g.chatId);
    expect(final.name).toBe('Renamed');
    expect(final.members).toEqual([
      { userId: 'a', role: 'admin' },
      { userId: 'c', role: 'admin' },
    ]);
    expect(log.log.get(g.chatId)?.map((e) => [e.seq, e.event.action, e.event.userIds])).toEqual([
      [1, 'created', ['a', 'b']],
      [2, 'members.added', ['c']],
      [3, 'renamed', []],
      [4, 'role', ['c']],
      [5, 'members.removed', ['b']],
    ]);
    const rows = new Map((await store.getMembers(g.chatId)).members.map((r) => [r.userId, r]));
    expect(rows.get('b')).toMatchObject({ joinedSeq: 1, leftSeq: 5, pending: false });
    expect(rows.get('c')).toMatchObject({ joinedSeq: 2, leftSeq: 0, role: 'admin' });
    // b heard about its own removal; a and c heard too.
    expect(events.sent.at(-1)?.userIds).toEqual(['a', 'b', 'c']);
    expect(await code(m.getChat('b', g.chatId))).toBe('not_member');
    expect((await m.getMembers(g.chatId, false)).members.map((r) => r.userId).sort()).toEqual(['a', 'c']);
    expect((await m.getMembers(g.chatId, true)).members).toHaveLength(3);
    expect((await m.listMemberships('b', true)).map((r) => r.leftSeq)).toEqual([5]);
    expect(await m.listMemberships('b', false)).toEqual([]);
  });

  it('no-ops append nothing', async () => {
    const { m, log } = setup();
    const g = await m.createGroup('a', 'T', ['b']);
    await m.addMembers('a', g.chatId, ['b']);
    await m.removeMembers('a', g.chatId, ['d']);
    await m.rename('a', g.chatId, 'T');
    await m.setRole('a', g.chatId, 'b', 'member');
    expect(log.log.get(g.chatId)).toHaveLength(1);
  });

  it('the last admin leaving promotes a member in its own `role` message', async () => {
    const { m, log } = setup();
    const g = await m.createGroup('a', 'T', ['b', 'c']);
    const after = await m.removeMembers('a', g.chatId, ['a']);
    expect(after.members).toEqual([
      { userId: 'b', role: 'admin' },
      { userId: 'c', role: 'member' },
    ]);
    expect(log.log.get(g.chatId)?.map((e) => [e.key, e.event.action, e.event.userIds, e.event.role])).toEqual([
      ['op1', 'created', ['a', 'b', 'c'], undefined],
      ['op2', 'members.removed', ['a'], undefined],
      ['op2.promote', 'role', ['b'], 'admin'],
    ]);
    expect(await code(m.setRole('b', g.chatId, 'b', 'member'))).toBe('conflict');
  });

  it('enforces the member cap on create and add', async () => {
    const { m } = setup();
    expect(await code(m.createGroup('a', 'T', ['b', 'c', 'd', 'e']))).toBe('bad_request');
    const g = await m.createGroup('a', 'T', ['b', 'c']);
    expect(await code(m.addMembers('a', g.chatId, ['d', 'e']))).toBe('conflict');
    expect((await m.addMembers('a', g.chatId, ['d'])).members).toHaveLength(4);
    expect(await code(m.addMembers('a', g.chatId, ['nobody']))).toBe('conflict');
  });

  it('rejects unknown users on add', async () => {
    const { m } = setup();
    const g = await m.createGroup('a', 'T', []);
    expect(await code(m.addMembers('a', g.chatId, ['nobody']))).toBe('not_found');
    expect(await code(m.createGroup('a', 'T', ['nobody']))).toBe('not_found');
  });

  it('a crash after the append is healed by the retry with the same op id (same seq)', async () => {
    const { m, log, store, advance } = setup();
    const g = await m.createGroup('a', 'T', ['b']);
    store.crashOn = 'clearOp'; // append done, rows maybe finalized, op still recorded
    await expect(m.addMembers('a', g.chatId, ['c'])).rejects.toThrow('crash in clearOp');
    expect((await store.getChat(g.chatId))?.pendingOp?.opId).toBe('op2');
    // A quick retry waits for the (presumed live) owner and gives up with `unavailable`…
    expect(await code(m.addMembers('a', g.chatId, ['c']))).toBe('unavailable');
    // …once the op is stale the retry finishes it with the same key, then sees c as a member (no-op).
    advance(3_000);
    const after = await m.addMembers('a', g.chatId, ['c']);
    expect(after.members.map((x) => x.userId)).toEqual(['a', 'b', 'c']);
    expect(log.log.get(g.chatId)?.map((e) => [e.seq, e.key])).toEqual([
      [1, 'op1'],
      [2, 'op2'],
    ]);
    expect((await store.getChat(g.chatId))?.pendingOp).toBeUndefined();
  });

  it('a crash before the append (message service down) leaves pending rows; healing appends once', async () => {
    const { m, log, store, advance } = setup();
    const g = await m.createGroup('a', 'T', ['b', 'c']);
    log.failNext = true;
    await expect(m.removeMembers('a', g.chatId, ['c'])).rejects.toThrow('message service down');
    const pending = (await store.getMembers(g.chatId)).members.find((r) => r.userId === 'c');
    expect(pending).toMatchObject({ pending: true, opId: 'op2', leftSeq: 0, joinedSeq: 1 });
    // The message service sees a pending leaver as conservative state; group still lists c until finalized.
    expect((await m.getMembers(g.chatId, false)).members.find((r) => r.userId === 'c')?.pending).toBe(true);
    advance(5_000);
    const view = await m.getChat('a', g.chatId); // a read finishes the stale op
    expect(view.members.map((x) => x.userId)).toEqual(['a', 'b']);
    expect((await store.getMembers(g.chatId)).members.find((r) => r.userId === 'c')).toMatchObject({ pending: false, leftSeq: 2 });
    expect(log.log.get(g.chatId)).toHaveLength(2);
  });

  it('a crash during group creation is healed when a member lists its chats', async () => {
    const { m, store, advance } = setup();
    store.crashOn = 'clearOp';
    await expect(m.createGroup('a', 'T', ['b'])).rejects.toThrow();
    advance(10_000);
    const list = await m.listChats('b');
    expect(list).toHaveLength(1);
    expect(list[0]?.members.map((x) => x.userId)).toEqual(['a', 'b']);
    expect((await store.getChat(list[0]!.chatId))?.pendingOp).toBeUndefined();
  });

  it('concurrent direct creates converge on one chat with one `created` message', async () => {
    const { m, log } = setup({ busyWaitMs: 5_000, now: Date.now });
    const [x, y] = await Promise.all([m.createDirect('a', 'b'), m.createDirect('b', 'a')]);
    expect(x.chatId).toBe(y.chatId);
    expect(log.log.get(x.chatId)).toHaveLength(1);
    expect(x.members).toEqual(y.members);
  });

  it('a concurrent change makes the optimistic acquire fail and re-validates', async () => {
    const { m, store, log } = setup();
    const g = await m.createGroup('a', 'T', ['b']);
    // Two admins' adds race: both read version op1, only one acquire wins, the other re-reads.
    const results = await Promise.all([m.addMembers('a', g.chatId, ['c']), m.addMembers('a', g.chatId, ['c', 'd'])]);
    expect(results[1].members.map((x) => x.userId).sort()).toEqual(['a', 'b', 'c', 'd']);
    const added = log.log.get(g.chatId)?.filter((e) => e.event.action === 'members.added').flatMap((e) => e.event.userIds);
    expect(added?.sort()).toEqual(['c', 'd']);
    expect(store.calls.filter((c) => c === 'acquireOp').length).toBeGreaterThanOrEqual(2);
  });

  it('lists chats by latest activity with lastSeq from the heads, bounded', async () => {
    const { m, log } = setup({ listLimit: 2 });
    const d = await m.createDirect('a', 'b');
    const g1 = await m.createGroup('a', 'G1', []);
    const g2 = await m.createGroup('a', 'G2', []);
    log.bump(g1.chatId);
    log.bump(d.chatId);
    log.bump(d.chatId);
    const list = await m.listChats('a');
    expect(list.map((c) => [c.chatId, c.lastSeq])).toEqual([
      [d.chatId, 3],
      [g1.chatId, 2],
    ]);
    expect(list.some((c) => c.chatId === g2.chatId)).toBe(false);
  });

  it('publishes chat.updated to all members on creation', async () => {
    const { m, events } = setup();
    await m.createGroup('a', 'T', ['b', 'c']);
    expect(events.sent).toHaveLength(1);
    expect(events.sent[0]?.userIds).toEqual(['a', 'b', 'c']);
  });
});
