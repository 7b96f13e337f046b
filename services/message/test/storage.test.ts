// The Cassandra adapters against the real server: conditional batch commits from two competing sequencers,
// bucketed reads, SERIAL message-id scans, dedupe claims and monotonic cursor writes.
import cassandra from 'cassandra-driver';
import { create } from '@bufbuild/protobuf';
import { commonV1 } from '@parley/proto';
import { ChatSequencer } from '../src/domain/chat-sequencer.js';
import { normalize } from '../src/domain/cursor.js';
import { MessagesStore } from '../src/adapters/messages-store.js';
import { CursorTable, DedupeTable } from '../src/adapters/inbox-store.js';
import { freshKeyspace } from './cassandra-support.js';

let ks: Awaited<ReturnType<typeof freshKeyspace>>;
let client: cassandra.Client;
beforeAll(async () => {
  ks = await freshKeyspace();
  client = ks.client;
}, 60_000);
afterAll(async () => ks?.drop(), 60_000);

let n = 0;
const draft = (chatId: string, user = 'u') =>
  create(commonV1.MessageSchema, {
    chatId,
    messageId: `id-${++n}`,
    kind: commonV1.MessageKind.USER,
    sender: { userId: user, deviceId: `${user}-d` },
    clientMsgId: `cm-${n}`,
    body: { content: { case: 'ciphertext', value: new Uint8Array([0, 255, 7, n % 256]) } },
    createdAt: BigInt(Date.now()),
  });
const far = () => Date.now() + 30_000;

describe('MessagesStore + ChatSequencer on Cassandra', () => {
  it('two competing sequencers commit 1..n, unique and gap-free, across bucket boundaries', async () => {
    const store = new MessagesStore(client, 16, 0);
    const a = new ChatSequencer(store, async () => {}, { bucketSize: 16n });
    const b = new ChatSequencer(store, async () => {}, { bucketSize: 16n });
    const jobs: Array<Promise<bigint>> = [];
    for (let i = 0; i < 60; i++) {
      jobs.push(a.commit('chat-a', draft('chat-a', `s${i % 4}`), undefined, far()));
      jobs.push(b.commit('chat-a', draft('chat-a', `t${i % 4}`), undefined, far()));
    }
    const seqs = (await Promise.all(jobs)).map(Number).sort((x, y) => x - y);
    expect(seqs).toEqual(Array.from({ length: 120 }, (_, i) => i + 1));
    const all = await store.readAfter('chat-a', 0n, undefined, 1000);
    expect(all.map((m) => Number(m.seq))).toEqual(seqs);
    expect(new Set(all.map((m) => m.messageId)).size).toBe(120);
    expect(await store.findHead('chat-a', 0n)).toBe(120n);
    expect(await store.findHead('chat-a', 17n)).toBe(120n);
  });

  it('the recent-message cache serves committed messages as Cassandra has them, and only committed ones', async () => {
    const cached = new MessagesStore(client, 16, 100);
    const seq = new ChatSequencer(cached, async () => {}, { bucketSize: 16n });
    for (let i = 0; i < 5; i++) await seq.commit('chat-rc', draft('chat-rc', 'rc'), undefined, far());
    const fromCache = await cached.getMessages('chat-rc', [1n, 3n, 5n, 9n]);
    const fromDb = await new MessagesStore(client, 16, 0).getMessages('chat-rc', [1n, 3n, 5n, 9n]);
    expect(fromCache.map((m) => m.seq)).toEqual([1n, 3n, 5n]); // 9 was never committed: not invented
    expect(fromCache.map((m) => m.messageId)).toEqual(fromDb.map((m) => m.messageId));
    expect(fromCache.map((m) => m.body)).toEqual(fromDb.map((m) => m.body));
    // A losing insert (the seq exists) is not cached.
    const loser = { ...draft('chat-rc', 'rc'), seq: 2n } as ReturnType<typeof draft>;
    expect(await cached.insertBatch('chat-rc', [loser])).toBe(false);
    const stored = await new MessagesStore(client, 16, 0).getMessage('chat-rc', 2n);
    expect(stored?.messageId).not.toBe(loser.messageId);
    expect((await cached.getMessage('chat-rc', 2n))?.messageId).toBe(stored?.messageId);
  });

  it('reads pages before/after across buckets, point and IN reads, ciphertext untouched', async () => {
    const store = new MessagesStore(client, 10, 0);
    const seq = new ChatSequencer(store, async () => {}, { bucketSize: 10n });
    for (let i = 0; i < 35; i++) await seq.commit('chat-b', draft('chat-b'), undefined, far());
    expect((await store.readAfter('chat-b', 5n, 24n, 100)).map((m) => Number(m.seq))).toEqual(Array.from({ length: 19 }, (_, i) => i + 6));
    expect((await store.readAfter('chat-b', 8n, undefined, 5)).map((m) => Number(m.seq))).toEqual([9, 10, 11, 12, 13]);
    expect((await store.readBefore('chat-b', 21n, 15n, 100)).map((m) => Number(m.seq))).toEqual([21, 20, 19, 18, 17, 16]);
    expect((await store.readBefore('chat-b', 35n, 0n, 12)).map((m) => Number(m.seq))).toEqual(Array.from({ length: 12 }, (_, i) => 35 - i));
    expect((await store.getMessages('chat-b', [3n, 19n, 99n])).map((m) => Number(m.seq))).toEqual([3, 19]);
    const m = await store.getMessage('chat-b', 7n);
    expect(m?.body?.content.case).toBe('ciphertext');
    expect(Array.from(m!.body!.content.value as Uint8Array).slice(0, 3)).toEqual([0, 255, 7]);
    const id = (await store.getMessage('chat-b', 33n))!.messageId;
    expect(await store.findMessageId('chat-b', 2n, id)).toBe(33n);
    expect(await store.findMessageId('chat-b', 2n, 'nope')).toBeUndefined();
  });

  it('detects membership changes in a seq range', async () => {
    const store = new MessagesStore(client, 100, 0);
    const seq = new ChatSequencer(store, async () => {}, { bucketSize: 100n });
    await seq.commit('chat-c', draft('chat-c'), undefined, far());
    const sys = create(commonV1.MessageSchema, { ...draft('chat-c'), kind: commonV1.MessageKind.SYSTEM, system: create(commonV1.SystemInfoSchema, { action: commonV1.SystemAction.MEMBERS_REMOVED, actor: 'a', userIds: ['b'] }) });
    await seq.commit('chat-c', sys, undefined, far());
    await seq.commit('chat-c', draft('chat-c'), undefined, far());
    expect(await store.membershipChangedIn('chat-c', 0n, 1n)).toBe(false);
    expect(await store.membershipChangedIn('chat-c', 1n, 3n)).toBe(true);
    expect(await store.membershipChangedIn('chat-c', 2n, 3n)).toBe(false);
  });

  it('chat heads converge on the highest seq whatever the write order', async () => {
    const store = new MessagesStore(client, 100, 0);
    await store.record('chat-h', 9n, 1000);
    await store.record('chat-h', 4n, 2000);
    expect(await store.get(['chat-h', 'none'])).toEqual([{ chatId: 'chat-h', lastSeq: 9n, lastActivityAt: 1000 }]);
    expect(await store.headHint('chat-h')).toBe(9n);
  });
});

describe('DedupeTable', () => {
  it('claims once, returns the existing claim, takes over only from the recorded owner', async () => {
    const t = new DedupeTable(client);
    const key = { sender: 'u1', chatId: 'c1', clientKey: 'k1' };
    const claim = { messageId: 'm1', createdAt: 10, baseSeq: 4n, owner: 'a:1', claimedAt: 10 };
    expect(await t.claim(key, claim)).toEqual({ applied: true });
    const again = await t.claim(key, { ...claim, messageId: 'm2', owner: 'b:1' });
    expect(again).toEqual({ applied: false, existing: { ...claim, seq: undefined } });
    expect(await t.takeOver(key, 'x:1', 'b:1', 20)).toBe(false);
    expect(await t.takeOver(key, 'a:1', 'b:1', 20)).toBe(true);
    await t.setSeq(key, 5n);
    expect(await t.takeOver(key, 'b:1', 'c:1', 30)).toBe(false); // committed: nothing to take over
    expect(await t.get(key)).toEqual({ ...claim, owner: 'b:1', claimedAt: 20, seq: 5n });
  });
});

describe('CursorTable', () => {
  it('never moves a cursor back and merges pending seqs', async () => {
    const t = new CursorTable(client);
    await t.write('u', 'd', 'c', 5n, [8n, 9n], []);
    await t.write('u', 'd', 'c', 3n, [], []); // a late, stale writer
    let c = await t.readOne('u', 'd', 'c');
    expect(c?.acked).toBe(5n);
    expect(c?.pending.sort()).toEqual([8n, 9n]);
    await t.write('u', 'd', 'c', 9n, [], [8n, 9n]);
    await t.write('u', 'd', 'c', 7n, [8n], []); // a stale pending add below the cursor stays shadowed
    c = await t.readOne('u', 'd', 'c');
    expect(normalize(c!)).toEqual({ acked: 9n, pending: [] });
    expect(c?.pending).toEqual([]);
    expect((await t.read('u', 'd')).map((x) => x.chatId)).toEqual(['c']);
  });

  it('with its cache on, two replicas never move a cursor back (monotonic merge), and a fresh read sees the truth', async () => {
    const a = new CursorTable(client, 100);
    const b = new CursorTable(client, 100);
    await a.write('u2', 'd', 'c', 5n, [8n], []);
    expect(await a.readOne('u2', 'd', 'c')).toMatchObject({ acked: 5n }); // cached by A
    await b.write('u2', 'd', 'c', 9n, [], [8n]); // replica B moves it on
    // A decides on its stale copy (acked 5) and writes acked 7: the table keeps 9.
    const stale = await a.readOne('u2', 'd', 'c');
    expect(stale?.acked).toBe(5n);
    await a.write('u2', 'd', 'c', 7n, [], []);
    const truth = await new CursorTable(client).readOne('u2', 'd', 'c');
    expect(normalize(truth!)).toEqual({ acked: 9n, pending: [] });
    // The backlog's read always goes to the table and refreshes the cache.
    expect((await a.read('u2', 'd')).map((x) => normalize(x))).toEqual([{ acked: 9n, pending: [] }]);
    expect((await a.readOne('u2', 'd', 'c'))?.acked).toBe(9n);
  });
});
