// The message log in Cassandra: messages((chat_id, bucket), seq), chat_heads. Prepared statements only.
// Commits are conditional (`INSERT … IF NOT EXISTS`, one conditional batch per commit round, Paxos at
// LOCAL_SERIAL, commit at LOCAL_QUORUM); reads at LOCAL_QUORUM, except findMessageId (LOCAL_SERIAL: it
// completes any commit left in flight before deciding that a claimed message was never written).
import { LruMap } from '../domain/lru.js';
import cassandra from 'cassandra-driver';
import { chunkBySize, LWT, QUORUM, toBig, toLong, WriteCombiner } from '@parley/kit';

const { types } = cassandra;
const consistencies = types.consistencies;
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import { commonV1 } from '@parley/proto';
import { bucketEnd, bucketOf } from '../domain/buckets.js';
import type { SequencerStore } from '../domain/chat-sequencer.js';
import { dedupeKeyOf, type HeadsStore, type LogReader } from '../domain/ports.js';

/** A bigint column's value; null or absent → 0n (heads and seqs start at 0). */
const big0 = (v: unknown): bigint => toBig(v) ?? 0n;

const INSERT =
  'INSERT INTO messages (chat_id, bucket, seq, message_id, kind, sender_user_id, sender_device_id, system_action, created_at, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) IF NOT EXISTS';
// Fenced mode: a plain write at the lease's epoch-derived timestamp (a later epoch's write at the same seq wins).
const INSERT_AT =
  'INSERT INTO messages (chat_id, bucket, seq, message_id, kind, sender_user_id, sender_device_id, system_action, created_at, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) USING TIMESTAMP ?';
// Written in the same request as the fenced log write: each message's permanent dedupe row, and the chat's head.
const DEDUPE_AT = 'INSERT INTO message_dedupe (sender, chat_id, client_key, message_id, created_at, seq) VALUES (?, ?, ?, ?, ?, ?)';
const HEAD_AT = 'UPDATE chat_heads USING TIMESTAMP ? SET last_seq = ?, last_activity_at = ? WHERE chat_id = ?';
// Chunking by request size (Cassandra's batch limit) lives in the kit; re-exported for this store's tests.
export { chunkBySize };
const MEMBERSHIP_ACTIONS = new Set([commonV1.SystemAction.CREATED, commonV1.SystemAction.MEMBERS_ADDED, commonV1.SystemAction.MEMBERS_REMOVED]);

export class MessagesStore implements SequencerStore, LogReader, HeadsStore {
  private readonly size: bigint;
  /**
   * Recently committed messages by `chatId#seq`, least recently used evicted first. A committed seq never
   * changes, so an entry cannot go stale; it spares the ack path (every recipient of a group message acks
   * the same seq) one read each.
   */
  private readonly recent: LruMap<string, commonV1.Message>;

  /** Fenced commits of different chats share requests (group commit; kit `WriteCombiner`). */
  private readonly writes: WriteCombiner;

  constructor(
    private readonly client: cassandra.Client,
    bucketSize: number,
    recentMax = 5000,
    onFlush?: (writers: number, statements: number) => void,
  ) {
    this.size = BigInt(bucketSize);
    this.recent = new LruMap(recentMax);
    this.writes = new WriteCombiner(client, onFlush ? { onFlush } : {});
  }

  private remember(m: commonV1.Message): void {
    this.recent.set(`${m.chatId}#${m.seq}`, m);
  }

  private recall(chatId: string, seq: bigint): commonV1.Message | undefined {
    return this.recent.get(`${chatId}#${seq}`);
  }

  private params(m: commonV1.Message): unknown[] {
    return [
      m.chatId,
      toLong(bucketOf(m.seq, this.size)),
      toLong(m.seq),
      m.messageId,
      m.kind,
      m.sender?.userId ?? '',
      m.sender?.deviceId ?? '',
      m.system?.action ?? 0,
      toLong(m.createdAt),
      Buffer.from(toBinary(commonV1.MessageSchema, m)),
    ];
  }

  async insertBatch(chatId: string, msgs: commonV1.Message[], writeTimestamp?: bigint): Promise<boolean> {
    const first = msgs[0];
    if (!first) return true;
    if (writeTimestamp !== undefined) {
      // ONE request: the log rows (one partition: a batch never crosses a bucket, so they are atomic and
      // isolated there), each message's dedupe row and the chat's head (other partitions: applied with the
      // batch, not atomically with it). Written before the caller's lease check, so a dedupe row may name a
      // seq that a later epoch overwrote: readers check the message at that seq (MessageSender).
      const ts = toLong(writeTimestamp);
      const last = msgs[msgs.length - 1]!;
      const queries = [
        ...msgs.map((m) => ({ query: INSERT_AT, params: [...this.params(m), ts] })),
        ...msgs.map((m) => {
          const k = dedupeKeyOf(m);
          return { query: DEDUPE_AT, params: [k.sender, k.chatId, k.clientKey, m.messageId, toLong(m.createdAt), toLong(m.seq)] };
        }),
        // USING TIMESTAMP seq: concurrent writers converge on the highest seq (see `record`).
        { query: HEAD_AT, params: [toLong(last.seq), toLong(last.seq), toLong(last.createdAt), chatId] },
      ];
      // Concurrent commits of other chats may share the request (plain idempotent writes at their timestamps).
      await this.writes.write(queries);
      for (const m of msgs) this.remember(m);
      return true;
    }
    try {
      const rs =
        msgs.length === 1
          ? await this.client.execute(INSERT, this.params(first), LWT)
          : await this.client.batch(
              msgs.map((m) => ({ query: INSERT, params: this.params(m) })),
              LWT,
            );
      const applied = rs.wasApplied();
      if (applied) for (const m of msgs) this.remember(m);
      return applied;
    } catch (err) {
      // A CAS write timeout leaves the outcome unknown: a SERIAL read settles it (and completes the round).
      const e = err as { code?: number; writeType?: string };
      if (e.code === types.responseErrorCodes.writeTimeout && (e.writeType === 'CAS' || e.writeType === 'BATCH')) {
        const rs = await this.client.execute(
          'SELECT message_id FROM messages WHERE chat_id = ? AND bucket = ? AND seq = ?',
          [chatId, toLong(bucketOf(first.seq, this.size)), toLong(first.seq)],
          { prepare: true, consistency: consistencies.localSerial },
        );
        const row = rs.first();
        return !!row && row['message_id'] === first.messageId;
      }
      throw err;
    }
  }

  private async maxSeqIn(chatId: string, bucket: bigint): Promise<bigint | undefined> {
    const rs = await this.client.execute('SELECT seq FROM messages WHERE chat_id = ? AND bucket = ? ORDER BY seq DESC LIMIT 1', [chatId, toLong(bucket)], QUORUM);
    const row = rs.first();
    return row ? big0(row['seq']) : undefined;
  }

  async findHead(chatId: string, from: bigint): Promise<bigint> {
    let head = from > 0n ? from - 1n : 0n;
    let b = bucketOf(from > 0n ? from : 0n, this.size);
    for (;;) {
      const max = await this.maxSeqIn(chatId, b);
      if (max === undefined) break;
      if (max > head) head = max;
      if (max !== bucketEnd(b, this.size)) break;
      b += 1n;
    }
    return head;
  }

  async headHint(chatId: string): Promise<bigint> {
    const rs = await this.client.execute('SELECT last_seq FROM chat_heads WHERE chat_id = ?', [chatId], QUORUM);
    const row = rs.first();
    return row ? big0(row['last_seq']) : 0n;
  }

  async membershipChangedIn(chatId: string, after: bigint, upTo: bigint): Promise<boolean> {
    let cur = after;
    while (cur < upTo) {
      const b = bucketOf(cur + 1n, this.size);
      const end = bucketEnd(b, this.size) < upTo ? bucketEnd(b, this.size) : upTo;
      const rs = await this.client.execute(
        'SELECT kind, system_action FROM messages WHERE chat_id = ? AND bucket = ? AND seq > ? AND seq <= ?',
        [chatId, toLong(b), toLong(cur), toLong(end)],
        { ...QUORUM, fetchSize: 5000 },
      );
      for await (const row of rs) {
        if (row['kind'] === commonV1.MessageKind.SYSTEM && MEMBERSHIP_ACTIONS.has(row['system_action'] as number)) return true;
      }
      cur = end;
    }
    return false;
  }

  private decode(row: cassandra.types.Row): commonV1.Message {
    return fromBinary(commonV1.MessageSchema, row['payload'] as Buffer);
  }

  async getMessage(chatId: string, seq: bigint): Promise<commonV1.Message | undefined> {
    const hit = this.recall(chatId, seq);
    if (hit) return hit;
    const rs = await this.client.execute('SELECT payload FROM messages WHERE chat_id = ? AND bucket = ? AND seq = ?', [chatId, toLong(bucketOf(seq, this.size)), toLong(seq)], QUORUM);
    const row = rs.first();
    return row ? this.decode(row) : undefined;
  }

  async getMessages(chatId: string, seqs: readonly bigint[]): Promise<commonV1.Message[]> {
    const byBucket = new Map<bigint, bigint[]>();
    const hits: commonV1.Message[] = [];
    for (const s of seqs) {
      const hit = this.recall(chatId, s);
      if (hit) {
        hits.push(hit);
        continue;
      }
      const b = bucketOf(s, this.size);
      const l = byBucket.get(b) ?? [];
      l.push(s);
      byBucket.set(b, l);
    }
    const parts = await Promise.all(
      [...byBucket].map(async ([b, l]) => {
        const rs = await this.client.execute('SELECT payload FROM messages WHERE chat_id = ? AND bucket = ? AND seq IN ?', [chatId, toLong(b), l.map(toLong)], QUORUM);
        return rs.rows.map((r) => {
          const m = this.decode(r);
          this.remember(m);
          return m;
        });
      }),
    );
    return [...hits, ...parts.flat()].sort((a, b) => (a.seq < b.seq ? -1 : 1));
  }

  async readAfter(chatId: string, after: bigint, upTo: bigint | undefined, limit: number): Promise<commonV1.Message[]> {
    // A short bounded range whose every seq this process committed or read recently: no query (the log is
    // gap-free and a committed seq never changes). The ack path's gap scans are such ranges.
    if (upTo !== undefined && upTo > after && upTo - after <= BigInt(Math.min(limit, 64))) {
      const hits: commonV1.Message[] = [];
      for (let s = after + 1n; s <= upTo; s += 1n) {
        const m = this.recall(chatId, s);
        if (!m) break;
        hits.push(m);
      }
      if (BigInt(hits.length) === upTo - after) return hits;
    }
    const out: commonV1.Message[] = [];
    let cur = after;
    while (out.length < limit && (upTo === undefined || cur < upTo)) {
      const b = bucketOf(cur + 1n, this.size);
      const bEnd = bucketEnd(b, this.size);
      const end = upTo !== undefined && upTo < bEnd ? upTo : bEnd;
      const rs = await this.client.execute(
        'SELECT payload FROM messages WHERE chat_id = ? AND bucket = ? AND seq > ? AND seq <= ? LIMIT ?',
        [chatId, toLong(b), toLong(cur), toLong(end), limit - out.length],
        QUORUM,
      );
      const rows = rs.rows.map((r) => this.decode(r));
      out.push(...rows);
      const last = rows[rows.length - 1];
      // The log is gap-free: continue into the next bucket only if this one is full up to its end.
      if (!last || last.seq !== bEnd) break;
      cur = last.seq;
    }
    return out;
  }

  async readBefore(chatId: string, from: bigint, after: bigint, limit: number): Promise<commonV1.Message[]> {
    const out: commonV1.Message[] = [];
    let top = from;
    while (out.length < limit && top > after) {
      const b = bucketOf(top, this.size);
      const rs = await this.client.execute(
        'SELECT payload FROM messages WHERE chat_id = ? AND bucket = ? AND seq <= ? AND seq > ? ORDER BY seq DESC LIMIT ?',
        [chatId, toLong(b), toLong(top), toLong(after), limit - out.length],
        QUORUM,
      );
      out.push(...rs.rows.map((r) => this.decode(r)));
      if (b === 0n) break;
      top = b * this.size - 1n; // the previous bucket's end
    }
    return out;
  }

  async findMessageId(chatId: string, after: bigint, messageId: string): Promise<bigint | undefined> {
    let cur = after;
    for (;;) {
      const b = bucketOf(cur + 1n, this.size);
      const bEnd = bucketEnd(b, this.size);
      const rs = await this.client.execute(
        'SELECT seq, message_id FROM messages WHERE chat_id = ? AND bucket = ? AND seq > ?',
        [chatId, toLong(b), toLong(cur)],
        { prepare: true, consistency: consistencies.localSerial, fetchSize: 1000 },
      );
      let last: bigint | undefined;
      for await (const row of rs) {
        last = big0(row['seq']);
        if (row['message_id'] === messageId) return last;
      }
      if (last === undefined || last !== bEnd) return undefined;
      cur = last;
    }
  }

  async record(chatId: string, seq: bigint, at: number): Promise<void> {
    // USING TIMESTAMP seq: concurrent writers converge on the highest seq (monotonic max without a read).
    await this.client.execute('UPDATE chat_heads USING TIMESTAMP ? SET last_seq = ?, last_activity_at = ? WHERE chat_id = ?', [toLong(seq), toLong(seq), toLong(BigInt(at)), chatId], QUORUM);
  }

  async get(chatIds: readonly string[]): Promise<Array<{ chatId: string; lastSeq: bigint; lastActivityAt: number }>> {
    const out: Array<{ chatId: string; lastSeq: bigint; lastActivityAt: number }> = [];
    const unique = [...new Set(chatIds)];
    for (let i = 0; i < unique.length; i += 64) {
      const part = await Promise.all(
        unique.slice(i, i + 64).map(async (chatId) => {
          const rs = await this.client.execute('SELECT last_seq, last_activity_at FROM chat_heads WHERE chat_id = ?', [chatId], QUORUM);
          const row = rs.first();
          return row ? { chatId, lastSeq: big0(row['last_seq']), lastActivityAt: Number(big0(row['last_activity_at'])) } : undefined;
        }),
      );
      for (const p of part) if (p) out.push(p);
    }
    return out;
  }
}
