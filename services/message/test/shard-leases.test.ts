// Sequencer shard leases and epoch fencing against the real Cassandra (migrations/002_sequencer_leases.cql,
// src/domain/shard-leases.ts, src/adapters/shard-lease-store.ts): would-be owners racing, a fair split,
// takeover of a silent holder only after its heartbeat expired (with a higher epoch), release on stop, and
// a paused old holder's late log write losing to the new holder's at the same seq.
import cassandra from 'cassandra-driver';
import { create } from '@bufbuild/protobuf';
import { commonV1 } from '@parley/proto';
import { ShardLeases } from '../src/domain/shard-leases.js';
import { CassandraLeaseStore } from '../src/adapters/shard-lease-store.js';
import { MessagesStore } from '../src/adapters/messages-store.js';
import { freshKeyspace } from './cassandra-support.js';

jest.setTimeout(60_000);

let ks: Awaited<ReturnType<typeof freshKeyspace>>;
let client: cassandra.Client;
beforeAll(async () => {
  ks = await freshKeyspace('leasetest');
  client = ks.client;
});
afterAll(async () => ks?.drop());

const SHARDS = 8;
const make = (owner: string, leaseMs = 1500) =>
  new ShardLeases(new CassandraLeaseStore(client), { owner, addr: `${owner}:1`, shards: SHARDS, leaseMs, marginMs: 500 });

async function rows(): Promise<Map<number, { owner: string; epoch: bigint }>> {
  const rs = await client.execute('SELECT shard, owner, epoch FROM sequencer_shards');
  return new Map(rs.rows.map((r) => [r['shard'] as number, { owner: r['owner'] as string, epoch: BigInt(String(r['epoch'])) }]));
}

describe('shard leases (real Cassandra)', () => {
  it('would-be owners racing: every shard has exactly one holder; two live owners split the shards', async () => {
    const a = make('owner-a');
    const b = make('owner-b');
    // Both race for all shards at once, from empty: LWTs decide.
    await Promise.all([a.tick(), b.tick()]);
    await Promise.all([a.tick(), b.tick()]);
    await Promise.all([a.tick(), b.tick()]);
    const ha = a.heldShards();
    const hb = b.heldShards();
    expect(ha.filter((s) => hb.includes(s))).toEqual([]);
    expect([...ha, ...hb].sort((x, y) => x - y)).toEqual(Array.from({ length: SHARDS }, (_, i) => i));
    expect(ha.length).toBe(SHARDS / 2);
    expect(hb.length).toBe(SHARDS / 2);
    const r = await rows();
    for (const s of ha) expect(r.get(s)!.owner).toBe('owner-a');
    for (const s of hb) expect(r.get(s)!.owner).toBe('owner-b');
    // Each knows where the other's chats go.
    const chatOfB = Array.from({ length: 200 }, (_, i) => `chat-${i}`).find((c) => hb.includes(b.shardOf(c)))!;
    expect(a.lease(chatOfB)).toBeUndefined();
    expect(a.remoteOwnerAddr(chatOfB)).toBe('owner-b:1');
    await a.stop();
    await b.stop();
  });

  it('a silent holder keeps its shards until its heartbeat expires; then they move with a higher epoch and its lease is invalid', async () => {
    await client.execute('TRUNCATE sequencer_shards');
    await client.execute('TRUNCATE sequencer_owners');
    const old = make('paused-holder');
    await old.tick();
    expect(old.heldShards()).toHaveLength(SHARDS);
    const before = await rows();
    const chat = 'chat-fenced';
    const oldLease = old.lease(chat)!;
    expect(oldLease.valid()).toBe(true);
    // The holder stops heartbeating (as a SIGSTOPped or dead process does). A newcomer cannot take over yet.
    const next = make('newcomer');
    await next.tick();
    expect(next.heldShards()).toEqual([]);
    // After the holder's own margin its lease is no longer valid, before anyone can take over.
    await new Promise((r) => setTimeout(r, 1100));
    expect(oldLease.valid()).toBe(false);
    expect(old.lease(chat)).toBeUndefined();
    // After the heartbeat expired (leaseMs), the newcomer takes every shard at epoch + 1.
    await new Promise((r) => setTimeout(r, 600));
    await next.tick();
    expect(next.heldShards()).toHaveLength(SHARDS);
    const after = await rows();
    for (let s = 0; s < SHARDS; s++) {
      expect(after.get(s)!.owner).toBe('newcomer');
      expect(after.get(s)!.epoch).toBe(before.get(s)!.epoch + 1n);
    }
    // The old holder wakes up: its round sees the loss and it does not take anything back.
    await old.tick();
    expect(old.heldShards()).toEqual([]);
    await next.stop();
  });

  it('stop releases at once: a successor takes over without waiting for expiry', async () => {
    await client.execute('TRUNCATE sequencer_shards');
    await client.execute('TRUNCATE sequencer_owners');
    const a = make('leaving', 60_000);
    await a.tick();
    expect(a.heldShards()).toHaveLength(SHARDS);
    await a.stop();
    const b = make('successor', 60_000);
    await b.tick();
    expect(b.heldShards()).toHaveLength(SHARDS);
    await b.stop();
  });

  it('fencing in the log: a late write of the old epoch at a seq does not replace the new epoch’s write', async () => {
    const log = new MessagesStore(client, 10_000, 0);
    const msg = (clientMsgId: string) =>
      create(commonV1.MessageSchema, {
        chatId: 'chat-ts',
        messageId: `id-${clientMsgId}`,
        seq: 1n,
        kind: commonV1.MessageKind.USER,
        sender: { userId: 'u', deviceId: 'd' },
        clientMsgId,
        body: { content: { case: 'text', value: clientMsgId } },
        createdAt: BigInt(Date.now()),
      });
    // The new holder (epoch 2) writes seq 1; the paused old holder's (epoch 1) write lands afterwards.
    await log.insertBatch('chat-ts', [msg('new-holder')], (2n << 40n) | 1n);
    await log.insertBatch('chat-ts', [msg('old-holder')], (1n << 40n) | 99n);
    expect((await log.getMessage('chat-ts', 1n))!.clientMsgId).toBe('new-holder');
    // And batches (one partition) behave the same.
    await log.insertBatch('chat-ts', [{ ...msg('old-a'), seq: 2n }, { ...msg('old-b'), seq: 3n }] as commonV1.Message[], (1n << 40n) | 100n);
    await log.insertBatch('chat-ts', [{ ...msg('new-a'), seq: 2n }, { ...msg('new-b'), seq: 3n }] as commonV1.Message[], (2n << 40n) | 2n);
    const fresh = new MessagesStore(client, 10_000, 0);
    expect((await fresh.readAfter('chat-ts', 0n, undefined, 10)).map((m) => m.clientMsgId)).toEqual(['new-holder', 'new-a', 'new-b']);
  });
});
