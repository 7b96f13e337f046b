import { create } from '@bufbuild/protobuf';
import { commonV1 } from '@parley/proto';
import { ChatSequencer } from './chat-sequencer.js';
import { SendAuthorizer } from './authorizer.js';
import { MessageSender, type SendRequest } from './message-sender.js';
import { dedupeKeyOf, type Claim, type ClaimRow, type DedupeKey, type DedupeStore, type GroupPort, type LogReader } from './ports.js';
import { FakeLog } from './fakes.test-support.js';

class FakeDedupe implements DedupeStore {
  rows = new Map<string, ClaimRow>();
  k = (key: DedupeKey) => `${key.sender}|${key.chatId}|${key.clientKey}`;
  async claim(key: DedupeKey, c: Claim) {
    const ex = this.rows.get(this.k(key));
    if (ex) return { applied: false as const, existing: { ...ex } };
    this.rows.set(this.k(key), { ...c, seq: undefined });
    return { applied: true as const };
  }
  async get(key: DedupeKey) {
    const r = this.rows.get(this.k(key));
    return r && { ...r };
  }
  async takeOver(key: DedupeKey, from: string, to: string, at: number) {
    const r = this.rows.get(this.k(key));
    if (!r || r.owner !== from || r.seq !== undefined) return false;
    r.owner = to;
    r.claimedAt = at;
    return true;
  }
  async setSeq(key: DedupeKey, seq: bigint) {
    this.rows.get(this.k(key))!.seq = seq;
  }
}

function setup(opts: { members?: string[]; instanceId?: string; log?: FakeLog; dedupe?: FakeDedupe; now?: () => number } = {}) {
  const log = opts.log ?? new FakeLog();
  const dedupe = opts.dedupe ?? new FakeDedupe();
  const published: commonV1.Message[] = [];
  let publishFails = false;
  const members = opts.members ?? ['alice', 'bob'];
  const groups: GroupPort = {
    getMembers: async () => members.map((userId) => ({ userId, joinedSeq: 1n, leftSeq: 0n, pending: false })),
    listMemberships: async () => [],
  };
  const publish = async (msgs: readonly commonV1.Message[]) => {
    if (publishFails) throw Object.assign(new Error('kafka down'), { code: 'unavailable' });
    published.push(...msgs);
  };
  const sequencer = new ChatSequencer(
    log,
    async (_chat, msgs) => {
      for (const m of msgs) await dedupe.setSeq(dedupeKeyOf(m), m.seq);
      await publish(msgs);
    },
    { bucketSize: 1000n, ...(opts.now ? { now: opts.now } : {}) },
  );
  const reader: LogReader = {
    getMessage: async (c, s) => log.chat(c).get(s),
    getMessages: async () => [],
    readAfter: async () => [],
    readBefore: async () => [],
    findMessageId: async (c, after, id) => [...log.chat(c).values()].find((m) => m.seq > after && m.messageId === id)?.seq,
    headHint: (c) => log.headHint(c),
    findHead: (c, f) => log.findHead(c, f),
  };
  let ids = 0;
  const sender = new MessageSender({
    sequencer,
    authorizer: new SendAuthorizer(groups, sequencer, 60_000),
    dedupe,
    log: reader,
    publisher: { publishMessages: publish },
    media: { resolveAttachments: async () => { throw Object.assign(new Error('media'), { code: 'unavailable' }); } },
    instanceId: opts.instanceId ?? 'inst-a',
    commitTimeoutMs: 5_000,
    claimLeaseMs: 15_000,
    inProgressWaitMs: 100,
    newId: () => `id-${opts.instanceId ?? 'a'}-${++ids}`,
    ...(opts.now ? { now: opts.now } : {}),
    sleep: async () => {},
  });
  return { sender, log, dedupe, published, failPublish: (v: boolean) => (publishFails = v) };
}

const req = (over: Partial<SendRequest> = {}): SendRequest => ({
  userId: 'alice',
  deviceId: 'alice-phone',
  chatId: 'chat-1',
  clientMsgId: 'client-msg-1',
  body: create(commonV1.MessageBodySchema, { content: { case: 'text', value: 'hello' } }),
  attachmentMediaIds: [],
  ...over,
});

describe('MessageSender', () => {
  it('commits, publishes, and answers a repeat with the first reply (duplicate:true, nothing new)', async () => {
    const t = setup();
    const a = await t.sender.send(req());
    expect(a.duplicate).toBe(false);
    expect(a.message.seq).toBe(1n);
    const b = await t.sender.send(req());
    expect(b).toMatchObject({ duplicate: true });
    expect(b.message.seq).toBe(1n);
    expect(b.message.messageId).toBe(a.message.messageId);
    expect(t.log.chat('chat-1').size).toBe(1);
    expect(t.published.map((m) => m.seq)).toEqual([1n, 1n]); // the repeat republishes
  });

  it('rejects non-members and checks replyTo', async () => {
    const t = setup();
    await expect(t.sender.send(req({ userId: 'mallory' }))).rejects.toMatchObject({ code: 'not_member' });
    await expect(t.sender.send(req({ replyTo: 5n }))).rejects.toMatchObject({ code: 'not_found' });
    await t.sender.send(req());
    const r = await t.sender.send(req({ clientMsgId: 'client-msg-2', replyTo: 1n }));
    expect(r.message.replyTo).toBe(1n);
  });

  it('attachments while media is down → unavailable, and nothing claimed', async () => {
    const t = setup();
    await expect(t.sender.send(req({ attachmentMediaIds: ['m1'] }))).rejects.toMatchObject({ code: 'unavailable' });
    expect(t.dedupe.rows.size).toBe(0);
  });

  it('a failed publish fails the send; the retry republishes the same message', async () => {
    const t = setup();
    t.failPublish(true);
    await expect(t.sender.send(req())).rejects.toMatchObject({ code: 'unavailable' });
    t.failPublish(false);
    const r = await t.sender.send(req());
    expect(r.duplicate).toBe(true);
    expect(r.message.seq).toBe(1n);
    expect(t.published).toHaveLength(1);
  });

  it('heals a claim abandoned before the commit (another instance crashed): the retry commits the claimed id', async () => {
    const log = new FakeLog();
    const dedupe = new FakeDedupe();
    let now = 1_000_000;
    const key = { sender: 'alice', chatId: 'chat-1', clientKey: 'client-msg-1' };
    await dedupe.claim(key, { messageId: 'orig-id', createdAt: now, baseSeq: 0n, owner: 'dead-instance:1', claimedAt: now });
    const t = setup({ log, dedupe, now: () => now });
    // Young claim owned elsewhere: in progress → unavailable (the client retries).
    await expect(t.sender.send(req())).rejects.toMatchObject({ code: 'unavailable' });
    now += 16_000; // past the lease
    const r = await t.sender.send(req());
    expect(r.duplicate).toBe(false);
    expect(r.message.messageId).toBe('orig-id');
    expect(r.message.seq).toBe(1n);
    expect((await t.sender.send(req())).duplicate).toBe(true);
    expect(log.chat('chat-1').size).toBe(1);
  });

  it('heals a crash between commit and recording the seq: found in the log, not committed twice', async () => {
    const log = new FakeLog();
    const dedupe = new FakeDedupe();
    const now = 1_000_000;
    const key = { sender: 'alice', chatId: 'chat-1', clientKey: 'client-msg-1' };
    await dedupe.claim(key, { messageId: 'orig-id', createdAt: now, baseSeq: 0n, owner: 'dead:1', claimedAt: now - 60_000 });
    log.chat('chat-1').set(1n, create(commonV1.MessageSchema, { chatId: 'chat-1', seq: 1n, messageId: 'orig-id', kind: commonV1.MessageKind.USER }));
    const t = setup({ log, dedupe, now: () => now });
    const r = await t.sender.send(req());
    expect(r).toMatchObject({ duplicate: true });
    expect(r.message.seq).toBe(1n);
    expect(log.chat('chat-1').size).toBe(1);
    expect((await dedupe.get(key))?.seq).toBe(1n);
  });

  it('system messages are idempotent on (chat, key) and need no membership', async () => {
    const t = setup({ members: [] });
    const sys = create(commonV1.SystemInfoSchema, { action: commonV1.SystemAction.MEMBERS_ADDED, actor: 'alice', userIds: ['carol'] });
    const a = await t.sender.appendSystem('chat-1', 'op-1', sys);
    const b = await t.sender.appendSystem('chat-1', 'op-1', sys);
    expect(a.message.kind).toBe(commonV1.MessageKind.SYSTEM);
    expect(a.message.sender?.userId).toBe('alice');
    expect(b.duplicate).toBe(true);
    expect(b.message.seq).toBe(a.message.seq);
  });

  it('concurrent repeats in one process share one attempt', async () => {
    const t = setup();
    const rs = await Promise.all([t.sender.send(req()), t.sender.send(req()), t.sender.send(req())]);
    expect(new Set(rs.map((r) => r.message.seq)).size).toBe(1);
    expect(rs.filter((r) => !r.duplicate)).toHaveLength(1);
    expect(t.log.chat('chat-1').size).toBe(1);
  });
});
