import { create } from '@bufbuild/protobuf';
import { commonV1 } from '@parley/proto';
import { InboxManager, type InboxOptions } from './inbox.js';
import type { CursorStore, GroupPort, LogReader, ReceiptPublisher, StoredCursor } from './ports.js';
import { normalize } from './cursor.js';

const DAY = 86_400_000;

function msg(seq: number, sender: string, device = `${sender}-d`, createdAt = Date.now()): commonV1.Message {
  return create(commonV1.MessageSchema, { chatId: 'c', seq: BigInt(seq), messageId: `m${seq}`, kind: commonV1.MessageKind.USER, sender: { userId: sender, deviceId: device }, createdAt: BigInt(createdAt) });
}

class MemCursors implements CursorStore {
  rows = new Map<string, StoredCursor>();
  async read(u: string, d: string) {
    return [...this.rows.entries()].filter(([k]) => k.startsWith(`${u}|${d}|`)).map(([, v]) => v);
  }
  async readOne(u: string, d: string, c: string) {
    return this.rows.get(`${u}|${d}|${c}`);
  }
  async write(u: string, d: string, c: string, acked: bigint, add: bigint[], remove: bigint[]) {
    const cur = this.rows.get(`${u}|${d}|${c}`) ?? { chatId: c, acked: 0n, pending: [] };
    const pending = new Set([...cur.pending, ...add]);
    for (const r of remove) pending.delete(r);
    this.rows.set(`${u}|${d}|${c}`, { chatId: c, acked: acked > cur.acked ? acked : cur.acked, pending: [...pending] });
  }
}

function setup(log: commonV1.Message[], cap = 3, membership = { joinedSeq: 1n, leftSeq: 0n }, cachedMember?: InboxOptions['cachedMember']) {
  let listed = 0;
  const groups: GroupPort = {
    getMembers: async () => [],
    listMemberships: async () => {
      listed += 1;
      return [{ chatId: 'c', userId: 'bob', pending: false, ...membership }];
    },
  };
  const byseq = new Map(log.map((m) => [m.seq, m]));
  const head = BigInt(log.length);
  const reader: LogReader = {
    getMessage: async (_c, s) => byseq.get(s),
    getMessages: async (_c, seqs) => seqs.map((s) => byseq.get(s)).filter((m): m is commonV1.Message => !!m),
    readAfter: async (_c, after, upTo, limit) => log.filter((m) => m.seq > after && (upTo === undefined || m.seq <= upTo)).slice(0, limit),
    readBefore: async () => [],
    headHint: async () => 0n,
    findHead: async () => head,
  };
  const receipts: Array<{ seqs: bigint[]; senders: string[] }> = [];
  const rp: ReceiptPublisher = {
    publishDelivered: async (_c, _u, rs) => void receipts.push({ seqs: rs.map((r) => r.seq), senders: rs.map((r) => r.sender) }),
    publishRead: async () => {},
  };
  const cursors = new MemCursors();
  const inbox = new InboxManager(groups, reader, cursors, rp, { ttlMs: 30 * DAY, newDeviceBacklogLimit: cap, pageSize: 2, ...(cachedMember ? { cachedMember } : {}) });
  const backlog = async () => {
    const got: bigint[] = [];
    await inbox.backlog('bob', 'bob-d', (m) => void got.push(m.seq));
    return got;
  };
  return { inbox, cursors, receipts, backlog, listed: () => listed };
}

const ack = (...seqs: number[]) => seqs.map((s) => ({ chatId: 'c', seq: BigInt(s) }));

describe('InboxManager', () => {
  it('by default a device without a cursor gets its whole membership window (protocol §8.4), then continues from its baseline', async () => {
    const log = [1, 2, 3, 4, 5].map((s) => msg(s, 'alice'));
    const t = setup(log, 0);
    expect(await t.backlog()).toEqual([1n, 2n, 3n, 4n, 5n]);
    log.push(msg(6, 'alice'));
    expect(await t.backlog()).toEqual([1n, 2n, 3n, 4n, 5n, 6n]);
  });

  it('an operator cap gives a new device the most recent messages, then everything after its baseline', async () => {
    const log = [1, 2, 3, 4, 5].map((s) => msg(s, 'alice'));
    const t = setup(log);
    expect(await t.backlog()).toEqual([3n, 4n, 5n]);
    log.push(msg(6, 'alice'), msg(7, 'alice'), msg(8, 'alice'), msg(9, 'alice'));
    // No cap any more: the baseline cursor (2) was stored.
    const t2 = setup(log);
    t2.cursors.rows = t.cursors.rows;
    expect(await t2.backlog()).toEqual([3n, 4n, 5n, 6n, 7n, 8n, 9n]);
  });

  it('ack → the backlog excludes acked messages; gaps are remembered and jump once filled', async () => {
    const log = [1, 2, 3, 4, 5, 6].map((s) => msg(s, 'alice'));
    const t = setup(log);
    await t.cursors.write('bob', 'bob-d', 'c', 0n, [], []);
    await t.inbox.ack('bob', 'bob-d', ack(1, 2, 4, 6));
    expect(await t.backlog()).toEqual([3n, 5n]);
    await t.inbox.ack('bob', 'bob-d', ack(3));
    expect(await t.backlog()).toEqual([5n]);
    await t.inbox.ack('bob', 'bob-d', ack(5));
    expect(await t.backlog()).toEqual([]);
    expect(normalize(t.cursors.rows.get('bob|bob-d|c')!)).toEqual({ acked: 6n, pending: [] });
    expect(t.receipts.flatMap((r) => r.seqs)).toEqual([1n, 2n, 4n, 6n, 3n, 5n]);
  });

  it('ignores acks beyond the head or outside membership, and does not receipt them', async () => {
    const log = [1, 2, 3, 4].map((s) => msg(s, 'alice'));
    const t = setup(log, 3, { joinedSeq: 2n, leftSeq: 3n });
    await t.inbox.ack('bob', 'bob-d', ack(1, 4, 99));
    expect(t.cursors.rows.size).toBe(0);
    expect(t.receipts).toEqual([]);
    await t.inbox.ack('bob', 'bob-d', ack(2, 3));
    expect(t.cursors.rows.get('bob|bob-d|c')!.acked).toBe(3n);
  });

  it("never streams the device's own messages, and treats them as acked to close gaps", async () => {
    const log = [msg(1, 'alice'), msg(2, 'bob', 'bob-d'), msg(3, 'bob', 'bob-other'), msg(4, 'alice')];
    const t = setup(log);
    await t.cursors.write('bob', 'bob-d', 'c', 0n, [], []);
    expect(await t.backlog()).toEqual([1n, 3n, 4n]); // the sender's OTHER device gets 3
    await t.inbox.ack('bob', 'bob-d', ack(1, 3, 4));
    expect(normalize(t.cursors.rows.get('bob|bob-d|c')!).acked).toBe(4n);
    expect(t.receipts.flatMap((r) => r.seqs)).toEqual([1n, 4n]); // no receipt for bob's own message
    expect(t.receipts.flatMap((r) => r.senders)).toEqual(['alice', 'alice']); // each receipt names its message's sender
  });

  it('respects membership bounds and the TTL window', async () => {
    const old = Date.now() - 31 * DAY;
    const log = [msg(1, 'alice', 'a', old), msg(2, 'alice', 'a', old), msg(3, 'alice'), msg(4, 'alice'), msg(5, 'alice')];
    const t = setup(log, 3, { joinedSeq: 2n, leftSeq: 4n });
    await t.cursors.write('bob', 'bob-d', 'c', 0n, [], []);
    expect(await t.backlog()).toEqual([3n, 4n]);
  });

  it('caps ack batches at 500', async () => {
    const t = setup([]);
    await expect(t.inbox.ack('bob', 'bob-d', ack(...Array.from({ length: 501 }, (_, i) => i + 1)))).rejects.toMatchObject({ code: 'bad_request' });
  });

  it('takes membership bounds from the cache when it vouches, and reads through when it does not', async () => {
    const log = [1, 2, 3, 4].map((s) => msg(s, 'alice'));
    const vouched = new Set<bigint>([1n, 2n, 3n]); // the cache vouches up to seq 3
    const t = setup(log, 0, { joinedSeq: 1n, leftSeq: 0n }, (_c, _u, upTo) => (vouched.has(upTo) ? { userId: 'bob', joinedSeq: 1n, leftSeq: 0n, pending: false } : undefined));
    await t.cursors.write('bob', 'bob-d', 'c', 0n, [], []);
    await t.inbox.ack('bob', 'bob-d', ack(1, 2));
    expect(t.listed()).toBe(0);
    await t.inbox.ack('bob', 'bob-d', ack(3, 4));
    expect(t.listed()).toBe(1);
    expect(normalize(t.cursors.rows.get('bob|bob-d|c')!).acked).toBe(4n);
  });

  it('a cached row never widens bounds: a removed member (left at 2) cannot ack beyond its removal', async () => {
    const log = [1, 2, 3].map((s) => msg(s, 'alice'));
    const t = setup(log, 0, { joinedSeq: 1n, leftSeq: 2n }, () => undefined);
    await t.cursors.write('bob', 'bob-d', 'c', 0n, [], []);
    await t.inbox.ack('bob', 'bob-d', ack(1, 2, 3));
    expect(normalize(t.cursors.rows.get('bob|bob-d|c')!).acked).toBe(2n);
    expect(t.receipts.flatMap((r) => r.seqs)).toEqual([1n, 2n]);
  });
});
