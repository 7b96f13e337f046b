import { commonV1 } from '@parley/proto';
import { ChatSequencer, type LeaseSource } from './chat-sequencer.js';
import { SendAuthorizer } from './authorizer.js';
import { MessageSender, type SendRequest } from './message-sender.js';
import { dedupeKeyOf, type ClaimRow, type DedupeKey, type DedupeStore, type GroupPort, type LogReader } from './ports.js';
import { FakeLog } from './fakes.test-support.js';
import type { Lease } from './shard-leases.js';

class FakeDedupe implements DedupeStore {
  rows = new Map<string, ClaimRow>();
  reads = 0;
  k = (key: DedupeKey) => `${key.sender}|${key.chatId}|${key.clientKey}`;
  async get(key: DedupeKey) {
    this.reads += 1;
    const r = this.rows.get(this.k(key));
    return r && { ...r };
  }
  async record(key: DedupeKey, row: { messageId: string; createdAt: number; seq: bigint }) {
    this.rows.set(this.k(key), { messageId: row.messageId, createdAt: row.createdAt, baseSeq: 0n, owner: '', claimedAt: 0, seq: row.seq });
  }
}

/** A lease source of one shard: epoch and validity under the test's control. */
class FakeLeases implements LeaseSource {
  epoch = 1n;
  valid = true;
  private c = 0n;
  require(): Lease {
    const epoch = this.epoch;
    return { shard: 0, epoch, timestamp: () => (epoch << 40n) | ++this.c, valid: () => this.valid && this.epoch === epoch };
  }
}

interface Setup {
  log?: FakeLog;
  dedupe?: FakeDedupe;
  members?: string[];
  leases?: FakeLeases;
  /** Delays authorization per clientMsgId (to make checks resolve out of arrival order). */
  authDelay?: (userId: string) => Promise<void>;
  recordDedupe?: boolean;
  tailSeed?: number;
  recentKeys?: number;
}

function setup(o: Setup = {}) {
  const log = o.log ?? new FakeLog();
  const dedupe = o.dedupe ?? new FakeDedupe();
  const leases = o.leases ?? new FakeLeases();
  const published: commonV1.Message[] = [];
  let publishFails = false;
  const members = o.members ?? ['alice', 'bob'];
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
      if (o.recordDedupe !== false) for (const m of msgs) await dedupe.record(dedupeKeyOf(m), { messageId: m.messageId, createdAt: Number(m.createdAt), seq: m.seq });
      await publish(msgs);
    },
    { bucketSize: 1000n, leases, ...(o.tailSeed !== undefined ? { tailSeed: o.tailSeed } : {}), ...(o.recentKeys !== undefined ? { recentKeys: o.recentKeys } : {}) },
  );
  const reader: LogReader = {
    getMessage: async (c, s) => log.chat(c).get(s),
    getMessages: async () => [],
    readAfter: async () => [],
    readBefore: (c, f, a, l) => log.readBefore(c, f, a, l),
    headHint: (c) => log.headHint(c),
    findHead: (c, f) => log.findHead(c, f),
  };
  const authorizer = new SendAuthorizer(groups, sequencer, 60_000);
  if (o.authDelay) {
    const orig = authorizer.authorize.bind(authorizer);
    authorizer.authorize = async (chatId, userId, fresh) => {
      await o.authDelay!(userId);
      return orig(chatId, userId, fresh);
    };
  }
  let ids = 0;
  const sender = new MessageSender({
    sequencer,
    authorizer,
    dedupe,
    log: reader,
    publisher: { publishMessages: publish },
    media: { resolveAttachments: async () => { throw Object.assign(new Error('media'), { code: 'unavailable' }); } },
    commitTimeoutMs: 5_000,
    newId: () => `id-${++ids}`,
  });
  return { log, dedupe, leases, sender, sequencer, published, setPublishFails: (v: boolean) => (publishFails = v) };
}

const req = (over: Partial<SendRequest> = {}): SendRequest => ({
  userId: 'alice',
  deviceId: 'd1',
  chatId: 'c1',
  clientMsgId: 'client-0001',
  body: { content: { case: 'text', value: 'hi' } } as commonV1.MessageBody,
  attachmentMediaIds: [],
  ...over,
});

describe('MessageSender (fenced sequencer)', () => {
  it('commits, publishes, and answers a repeat with the first reply (duplicate:true, nothing new)', async () => {
    const s = setup();
    const a = await s.sender.send(req());
    expect(a.duplicate).toBe(false);
    expect(a.message.seq).toBe(1n);
    const b = await s.sender.send(req());
    expect(b.duplicate).toBe(true);
    expect(b.message.messageId).toBe(a.message.messageId);
    expect(b.message.seq).toBe(1n);
    expect(s.log.chat('c1').size).toBe(1);
    // The repeat republished the stored message (heals a crash between commit and publish).
    expect(s.published.map((m) => m.seq)).toEqual([1n, 1n]);
  });

  it('rejects non-members and checks replyTo', async () => {
    const s = setup();
    await expect(s.sender.send(req({ userId: 'mallory' }))).rejects.toMatchObject({ code: 'not_member' });
    await expect(s.sender.send(req({ replyTo: 5n }))).rejects.toMatchObject({ code: 'not_found' });
    await s.sender.send(req());
    expect((await s.sender.send(req({ clientMsgId: 'client-0002', replyTo: 1n }))).message.seq).toBe(2n);
    expect(s.log.chat('c1').size).toBe(2);
  });

  it('a failed publish fails the send; the retry republishes the same message', async () => {
    const s = setup();
    s.setPublishFails(true);
    await expect(s.sender.send(req())).rejects.toMatchObject({ code: 'unavailable' });
    s.setPublishFails(false);
    const r = await s.sender.send(req());
    expect(r.duplicate).toBe(true);
    expect(r.message.seq).toBe(1n);
    expect(s.published.map((m) => m.seq)).toEqual([1n]);
    expect(s.log.chat('c1').size).toBe(1);
  });

  it('reads no dedupe row while the sequencer remembers every key of the chat; reads it when it cannot', async () => {
    const log = new FakeLog();
    const dedupe = new FakeDedupe();
    const s = setup({ log, dedupe, tailSeed: 4 });
    await s.sender.send(req({ clientMsgId: 'msg-0001' })); // cold chat: reads unless the seed finished first
    const cold = dedupe.reads;
    expect(cold).toBeLessThanOrEqual(1);
    for (let i = 2; i <= 6; i++) await s.sender.send(req({ clientMsgId: `msg-000${i}` }));
    expect(dedupe.reads).toBe(cold); // seeded from the whole (empty) log, then every commit remembered
    expect((await s.sender.send(req({ clientMsgId: 'msg-0001' }))).duplicate).toBe(true);
    // A new holder of a 6-message chat with a seed of 4: the memory lacks m-0001, so the table is read.
    const next = setup({ log, dedupe, tailSeed: 4, leases: Object.assign(new FakeLeases(), { epoch: 2n }) });
    await next.sender.send(req({ clientMsgId: 'msg-0007' }));
    const readsBefore = dedupe.reads;
    const r = await next.sender.send(req({ clientMsgId: 'msg-0001' }));
    expect(dedupe.reads).toBe(readsBefore + 1);
    expect(r).toMatchObject({ duplicate: true, message: { seq: 1n } });
    expect(log.chat('c1').size).toBe(7);
  });

  it('an evicted key makes the chat read its dedupe rows again (and the old send is still a duplicate)', async () => {
    const s = setup({ recentKeys: 3 });
    for (let i = 1; i <= 3; i++) await s.sender.send(req({ clientMsgId: `msg-000${i}` }));
    const reads = s.dedupe.reads;
    await s.sender.send(req({ clientMsgId: 'msg-0004' })); // evicts m-0001's key
    await s.sender.send(req({ clientMsgId: 'msg-0005' }));
    expect(s.dedupe.reads).toBe(reads + 1); // m-0005 had to read: the memory is no longer the whole chat
    const r = await s.sender.send(req({ clientMsgId: 'msg-0001' }));
    expect(r).toMatchObject({ duplicate: true, message: { seq: 1n } });
    expect(s.log.chat('c1').size).toBe(5);
  });

  it('a dedupe row whose seq holds another message (left by a fenced-out write) is not a duplicate', async () => {
    const log = new FakeLog();
    const dedupe = new FakeDedupe();
    const first = setup({ log, dedupe });
    await first.sender.send(req({ clientMsgId: 'winner-0001' })); // seq 1, by the holder of the later epoch
    // The paused old holder's row for its own send, at the same seq, written before its lease check failed.
    await dedupe.record({ sender: 'alice', chatId: 'c1', clientKey: 'loser-00001' }, { messageId: 'lost', createdAt: 0, seq: 1n });
    const next = setup({ log, dedupe, tailSeed: 0, leases: Object.assign(new FakeLeases(), { epoch: 2n }) });
    const r = await next.sender.send(req({ clientMsgId: 'loser-00001' }));
    expect(r.duplicate).toBe(false);
    expect(r.message.seq).toBe(2n);
    expect(log.chat('c1').size).toBe(2);
  });

  it('an old send (not in memory) is found through its dedupe row', async () => {
    const log = new FakeLog();
    const dedupe = new FakeDedupe();
    const first = setup({ log, dedupe });
    await first.sender.send(req());
    // A new process (empty memory), the log's tail seeding turned off by the distance.
    const second = setup({ log, dedupe });
    for (let i = 0; i < 300; i++) await second.sender.send(req({ clientMsgId: `other-${String(i).padStart(4, '0')}` }));
    const third = setup({ log, dedupe, leases: Object.assign(new FakeLeases(), { epoch: 3n }) });
    const r = await third.sender.send(req());
    expect(r.duplicate).toBe(true);
    expect(r.message.seq).toBe(1n);
    expect(log.chat('c1').size).toBe(301);
  });

  it('a crash between the commit and the dedupe row: the next holder knows it from the log tail', async () => {
    const log = new FakeLog();
    const dedupe = new FakeDedupe();
    const dying = setup({ log, dedupe, recordDedupe: false });
    dying.setPublishFails(true); // the reply never went out
    await expect(dying.sender.send(req())).rejects.toBeDefined();
    expect(dedupe.rows.size).toBe(0);
    const next = setup({ log, dedupe, leases: Object.assign(new FakeLeases(), { epoch: 2n }) });
    const r = await next.sender.send(req());
    expect(r.duplicate).toBe(true);
    expect(r.message.seq).toBe(1n);
    expect(log.chat('c1').size).toBe(1);
  });

  it('a write with an unknown outcome (applied, then the store call failed): the retry is a duplicate, not a second message', async () => {
    const s = setup();
    await s.sender.send(req({ clientMsgId: 'earlier-0001' }));
    const orig = s.log.insertBatch.bind(s.log);
    let failOnce = true;
    s.log.insertBatch = async (c, msgs, ts) => {
      const r = await orig(c, msgs, ts);
      if (failOnce) {
        failOnce = false;
        throw Object.assign(new Error('write timeout'), { code: 'unavailable' });
      }
      return r;
    };
    await expect(s.sender.send(req())).rejects.toMatchObject({ code: 'unavailable' });
    const r = await s.sender.send(req());
    expect(r.duplicate).toBe(true);
    expect(r.message.seq).toBe(2n);
    expect(s.log.chat('c1').size).toBe(2);
  });

  it('a lease that lapses during a write (same epoch afterwards): the retry is a duplicate', async () => {
    const s = setup();
    const orig = s.log.insertBatch.bind(s.log);
    let lapse = true;
    s.log.insertBatch = async (c, msgs, ts) => {
      const r = await orig(c, msgs, ts);
      if (lapse) {
        lapse = false;
        s.leases.valid = false;
      }
      return r;
    };
    await expect(s.sender.send(req())).rejects.toMatchObject({ code: 'unavailable' });
    s.leases.valid = true; // renewed, same epoch
    const r = await s.sender.send(req());
    expect(r.duplicate).toBe(true);
    expect(s.log.chat('c1').size).toBe(1);
  });

  it('system messages are idempotent on (chat, key) and need no membership', async () => {
    const s = setup({ members: [] });
    const sys = { action: commonV1.SystemAction.RENAMED, actor: 'admin', userIds: [], title: 't' } as unknown as commonV1.SystemInfo;
    const a = await s.sender.appendSystem('c1', 'rename-1', sys);
    const b = await s.sender.appendSystem('c1', 'rename-1', sys);
    expect(a.duplicate).toBe(false);
    expect(b.duplicate).toBe(true);
    expect(b.message.seq).toBe(a.message.seq);
  });

  it('concurrent repeats in one process share one attempt', async () => {
    const s = setup();
    const rs = await Promise.all(Array.from({ length: 10 }, () => s.sender.send(req())));
    expect(rs.filter((r) => !r.duplicate)).toHaveLength(1);
    expect(new Set(rs.map((r) => r.message.seq))).toEqual(new Set([1n]));
    expect(s.log.chat('c1').size).toBe(1);
  });

  it('pipelined sends of one device get seqs in arrival order even when their checks finish out of order', async () => {
    let calls = 0;
    // Every third authorization is slow: later sends' checks finish first.
    const s = setup({ authDelay: () => new Promise((r) => setTimeout(r, ++calls % 3 === 1 ? 20 : 0)) });
    const n = 300;
    const rs = await Promise.all(Array.from({ length: n }, (_, i) => s.sender.send(req({ clientMsgId: `pipe-${String(i).padStart(5, '0')}` }))));
    expect(rs.map((r) => r.message.seq)).toEqual(Array.from({ length: n }, (_, i) => BigInt(i + 1)));
  });

  it('a write after the lease was lost is neither published nor answered; the new holder wins the seq', async () => {
    const log = new FakeLog();
    const dedupe = new FakeDedupe();
    const old = setup({ log, dedupe });
    await old.sender.send(req({ clientMsgId: 'before-0001' }));
    // The old holder pauses mid-write: the lease is taken over (epoch 2) before its write returns.
    const next = setup({ log, dedupe, leases: Object.assign(new FakeLeases(), { epoch: 2n }) });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    log.beforeInsert = async (_c, msgs) => {
      if (msgs[0]!.clientMsgId === 'stale-0001') await gate;
    };
    const stale = old.sender.send(req({ clientMsgId: 'stale-0001' }));
    await new Promise((r) => setTimeout(r, 5));
    old.leases.valid = false;
    const fresh = await next.sender.send(req({ clientMsgId: 'fresh-0001' }));
    expect(fresh.message.seq).toBe(2n);
    release();
    await expect(stale).rejects.toMatchObject({ code: 'unavailable' });
    // The stale write at seq 2 (epoch 1) did not replace the new holder's (epoch 2).
    expect(log.chat('c1').get(2n)!.clientMsgId).toBe('fresh-0001');
    expect(old.published.map((m) => m.clientMsgId)).toEqual(['before-0001']);
  });
});
