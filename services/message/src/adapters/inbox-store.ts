// Dedupe claims, inbox cursors and read marks in Cassandra.
// Cursor and read-mark writes use USING TIMESTAMP <seq>: the highest seq wins whatever the write order, so
// concurrent acks never move a cursor back without a read-modify-write transaction. Pending (beyond-a-gap)
// seqs are a set: each is added at timestamp = its seq and removed at timestamp = the cursor that passed it.
import { LruMap } from '../domain/lru.js';
import cassandra from 'cassandra-driver';
import { LWT, QUORUM, toBig, toLong, WriteCombiner } from '@parley/kit';

const Long = cassandra.types.Long;
import type { Claim, ClaimRow, CursorStore, DedupeKey, DedupeStore, ReadMarksStore, StoredCursor } from '../domain/ports.js';


function rowToClaim(row: cassandra.types.Row): ClaimRow {
  return {
    messageId: row['message_id'] as string,
    createdAt: Number(toBig(row['created_at']) ?? 0n),
    baseSeq: toBig(row['base_seq']) ?? 0n,
    owner: (row['owner'] as string | null) ?? '',
    claimedAt: Number(toBig(row['claimed_at']) ?? 0n),
    seq: toBig(row['seq']),
  };
}

export class DedupeTable implements DedupeStore {
  constructor(private readonly client: cassandra.Client) {}

  async claim(key: DedupeKey, c: Claim): Promise<{ applied: true } | { applied: false; existing: ClaimRow }> {
    const rs = await this.client.execute(
      'INSERT INTO message_dedupe (sender, chat_id, client_key, message_id, created_at, base_seq, owner, claimed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) IF NOT EXISTS',
      [key.sender, key.chatId, key.clientKey, c.messageId, Long.fromNumber(c.createdAt), toLong(c.baseSeq), c.owner, Long.fromNumber(c.claimedAt)],
      LWT,
    );
    if (rs.wasApplied()) return { applied: true };
    const row = rs.first();
    return { applied: false, existing: rowToClaim(row) };
  }

  async get(key: DedupeKey): Promise<ClaimRow | undefined> {
    const rs = await this.client.execute(
      'SELECT message_id, created_at, base_seq, owner, claimed_at, seq FROM message_dedupe WHERE sender = ? AND chat_id = ? AND client_key = ?',
      [key.sender, key.chatId, key.clientKey],
      QUORUM,
    );
    const row = rs.first();
    return row ? rowToClaim(row) : undefined;
  }

  async takeOver(key: DedupeKey, fromOwner: string, toOwner: string, at: number): Promise<boolean> {
    const rs = await this.client.execute(
      'UPDATE message_dedupe SET owner = ?, claimed_at = ? WHERE sender = ? AND chat_id = ? AND client_key = ? IF owner = ? AND seq = null',
      [toOwner, Long.fromNumber(at), key.sender, key.chatId, key.clientKey, fromOwner],
      LWT,
    );
    return rs.wasApplied();
  }

  async record(key: DedupeKey, row: { messageId: string; createdAt: number; seq: bigint }): Promise<void> {
    await this.client.execute(
      'INSERT INTO message_dedupe (sender, chat_id, client_key, message_id, created_at, seq) VALUES (?, ?, ?, ?, ?, ?)',
      [key.sender, key.chatId, key.clientKey, row.messageId, Long.fromNumber(row.createdAt), toLong(row.seq)],
      QUORUM,
    );
  }

  async setSeq(key: DedupeKey, seq: bigint): Promise<void> {
    await this.client.execute('UPDATE message_dedupe SET seq = ? WHERE sender = ? AND chat_id = ? AND client_key = ?', [toLong(seq), key.sender, key.chatId, key.clientKey], QUORUM);
  }
}

interface CursorSlot {
  running: boolean;
  next: { acked: bigint; add: Set<bigint>; remove: Set<bigint>; waiters: Array<{ resolve(): void; reject(err: unknown): void }> } | undefined;
}

export class CursorTable implements CursorStore, ReadMarksStore {
  /**
   * Optional cache of cursors this process read or wrote (LRU, `cacheMax` entries; 0 = off). Safe although
   * another replica may move a cursor meanwhile: every column merges monotonically (acked_seq and pending
   * removals are written USING TIMESTAMP acked, pending additions USING TIMESTAMP seq), so a decision made
   * on a stale (lower) cursor can only re-write what is already there or re-publish a delivered receipt —
   * never move a cursor back. The backlog on connect always reads the table (`read`).
   */
  private readonly cache: LruMap<string, StoredCursor>;

  /** Cursor writes of different devices and chats share requests (group commit; kit `WriteCombiner`). */
  private readonly writes: WriteCombiner;

  constructor(
    private readonly client: cassandra.Client,
    cacheMax = 0,
    onFlush?: (writers: number, statements: number) => void,
  ) {
    this.cache = new LruMap(cacheMax);
    this.writes = new WriteCombiner(client, onFlush ? { onFlush } : {});
  }

  private remember(k: string, c: StoredCursor): void {
    this.cache.set(k, { chatId: c.chatId, acked: c.acked, pending: [...c.pending] });
  }

  private toCursor(row: cassandra.types.Row): StoredCursor {
    const pending = (row['pending'] as unknown[] | null) ?? [];
    return { chatId: row['chat_id'] as string, acked: toBig(row['acked_seq']) ?? 0n, pending: pending.map((p) => toBig(p) ?? 0n) };
  }

  async read(userId: string, deviceId: string): Promise<StoredCursor[]> {
    const rs = await this.client.execute('SELECT chat_id, acked_seq, pending FROM inbox_cursors WHERE user_id = ? AND device_id = ?', [userId, deviceId], { ...QUORUM, fetchSize: 5000 });
    const out: StoredCursor[] = [];
    for await (const row of rs) {
      const c = this.toCursor(row);
      this.remember(`${userId}|${deviceId}|${c.chatId}`, c);
      out.push(c);
    }
    return out;
  }

  async readOne(userId: string, deviceId: string, chatId: string): Promise<StoredCursor | undefined> {
    const hit = this.cache.get(`${userId}|${deviceId}|${chatId}`);
    if (hit) return { chatId: hit.chatId, acked: hit.acked, pending: [...hit.pending] };
    const rs = await this.client.execute('SELECT chat_id, acked_seq, pending FROM inbox_cursors WHERE user_id = ? AND device_id = ? AND chat_id = ?', [userId, deviceId, chatId], QUORUM);
    const row = rs.first();
    if (!row) return undefined;
    const c = this.toCursor(row);
    this.remember(`${userId}|${deviceId}|${chatId}`, c);
    return c;
  }

  /** Per cursor: whether a write is in flight, and the merge of the writes that arrived meanwhile. */
  private readonly slots = new Map<string, CursorSlot>();

  /**
   * Monotonic cursor write with group commit: while one write of a cursor is in flight, later writes of that
   * cursor merge (the highest acked, the union of pending additions and of removals: exactly the merge the
   * table applies) into ONE next write. Each caller resolves once a write containing its effect is durable.
   */
  write(userId: string, deviceId: string, chatId: string, acked: bigint, addPending: bigint[], removePending: bigint[]): Promise<void> {
    const key = `${userId}|${deviceId}|${chatId}`;
    let slot = this.slots.get(key);
    if (!slot) this.slots.set(key, (slot = { running: false, next: undefined }));
    const s = slot;
    return new Promise<void>((resolve, reject) => {
      const m = (s.next ??= { acked, add: new Set(), remove: new Set(), waiters: [] });
      if (acked > m.acked) m.acked = acked;
      for (const x of addPending) m.add.add(x);
      for (const x of removePending) m.remove.add(x);
      m.waiters.push({ resolve, reject });
      if (!s.running) void this.pump(key, s, userId, deviceId, chatId);
    });
  }

  private async pump(key: string, slot: CursorSlot, userId: string, deviceId: string, chatId: string): Promise<void> {
    slot.running = true;
    while (slot.next) {
      const m = slot.next;
      slot.next = undefined;
      try {
        await this.writeNow(userId, deviceId, chatId, m.acked, [...m.add], [...m.remove]);
        for (const w of m.waiters) w.resolve();
      } catch (err) {
        for (const w of m.waiters) w.reject(err);
      }
    }
    slot.running = false;
    this.slots.delete(key);
  }

  private async writeNow(userId: string, deviceId: string, chatId: string, acked: bigint, addPending: bigint[], removePending: bigint[]): Promise<void> {
    const k = [userId, deviceId, chatId];
    const queries: Array<{ query: string; params: unknown[] }> = [
      { query: 'UPDATE inbox_cursors USING TIMESTAMP ? SET acked_seq = ? WHERE user_id = ? AND device_id = ? AND chat_id = ?', params: [toLong(acked), toLong(acked), ...k] },
    ];
    if (removePending.length > 0) {
      queries.push({ query: 'UPDATE inbox_cursors USING TIMESTAMP ? SET pending = pending - ? WHERE user_id = ? AND device_id = ? AND chat_id = ?', params: [toLong(acked), removePending.map(toLong), ...k] });
    }
    for (const s of addPending) {
      queries.push({ query: 'UPDATE inbox_cursors USING TIMESTAMP ? SET pending = pending + ? WHERE user_id = ? AND device_id = ? AND chat_id = ?', params: [toLong(s), [toLong(s)], ...k] });
    }
    await this.writes.write(queries);
    // The same merge the table applies, on a cursor this process knows (an unknown one is read next time).
    const key = k.join('|');
    const cur = this.cache.get(key);
    if (cur) {
      const pending = new Set(cur.pending);
      for (const s of addPending) pending.add(s);
      for (const s of removePending) pending.delete(s);
      const top = acked > cur.acked ? acked : cur.acked;
      this.remember(key, { chatId, acked: top, pending: [...pending].filter((p) => p > top) });
    }
  }

  async writeReadMark(chatId: string, userId: string, seq: bigint, at: number): Promise<void> {
    await this.client.execute('UPDATE read_marks USING TIMESTAMP ? SET read_seq = ?, read_at = ? WHERE chat_id = ? AND user_id = ?', [toLong(seq), toLong(seq), Long.fromNumber(at), chatId, userId], QUORUM);
  }
}
