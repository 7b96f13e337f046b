// Cassandra: privacy settings, receipt watermarks and a durable copy of lastSeen (migrations/001_presence.cql).
import { cassandraTypes, toBig, WriteCombiner, type CassandraClient } from '@parley/kit';
import type { MarksPort } from '../domain/ports.js';
import { DEFAULT_SETTINGS, type LastSeenVisibility, type ReceiptMark, type UserSettings } from '../domain/model.js';

const Long = cassandraTypes.Long;
const big = (v: unknown): bigint => toBig(v) ?? 0n;
const num = (v: unknown): number => Number(big(v));
const VIS = new Set<LastSeenVisibility>(['everyone', 'contacts', 'nobody']);

export class SettingsStore {
  constructor(private readonly client: CassandraClient) {}

  async get(userId: string): Promise<UserSettings> {
    const rs = await this.client.execute('SELECT last_seen, read_receipts FROM presence_settings WHERE user_id = ?', [userId], { prepare: true });
    const row = rs.first();
    if (!row) return { ...DEFAULT_SETTINGS };
    const ls = row['last_seen'] as string | null;
    const rr = row['read_receipts'] as boolean | null;
    return {
      lastSeen: ls && VIS.has(ls as LastSeenVisibility) ? (ls as LastSeenVisibility) : DEFAULT_SETTINGS.lastSeen,
      readReceipts: rr ?? DEFAULT_SETTINGS.readReceipts,
    };
  }

  /** Writes only the given fields (each column on its own: concurrent partial updates never undo each other). */
  async update(userId: string, patch: Partial<UserSettings>): Promise<void> {
    const sets: string[] = [];
    const params: unknown[] = [];
    if (patch.lastSeen !== undefined) {
      sets.push('last_seen = ?');
      params.push(patch.lastSeen);
    }
    if (patch.readReceipts !== undefined) {
      sets.push('read_receipts = ?');
      params.push(patch.readReceipts);
    }
    if (!sets.length) return;
    await this.client.execute(`UPDATE presence_settings SET ${sets.join(', ')} WHERE user_id = ?`, [...params, userId], { prepare: true });
  }

  async writeLastSeen(userId: string, at: number): Promise<void> {
    await this.client.execute('UPDATE presence_last_seen USING TIMESTAMP ? SET last_seen = ? WHERE user_id = ?', [Long.fromNumber(at * 1000), Long.fromNumber(at), userId], {
      prepare: true,
    });
  }

  async lastSeen(userIds: string[]): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    await Promise.all(
      userIds.map(async (u) => {
        const rs = await this.client.execute('SELECT last_seen FROM presence_last_seen WHERE user_id = ?', [u], { prepare: true });
        const v = rs.first()?.['last_seen'];
        if (v !== undefined && v !== null) out.set(u, num(v));
      }),
    );
    return out;
  }
}

export class MarksStore implements MarksPort {
  /** Marks of different chats and readers share requests (group commit; kit `WriteCombiner`). */
  private readonly writes: WriteCombiner;

  constructor(private readonly client: CassandraClient) {
    this.writes = new WriteCombiner(client, { options: { prepare: true } });
  }

  /** Monotonic: the highest seq wins (USING TIMESTAMP seq). */
  async writeDelivered(chatId: string, userId: string, seq: bigint, at: number): Promise<void> {
    await this.writes.write([
      {
        query: 'UPDATE receipt_marks USING TIMESTAMP ? SET delivered_seq = ?, delivered_at = ? WHERE chat_id = ? AND user_id = ?',
        params: [Long.fromString(seq.toString()), Long.fromString(seq.toString()), Long.fromNumber(at), chatId, userId],
      },
    ]);
  }

  async writeRead(chatId: string, userId: string, seq: bigint, at: number): Promise<void> {
    await this.writes.write([
      {
        query: 'UPDATE receipt_marks USING TIMESTAMP ? SET read_seq = ?, read_at = ? WHERE chat_id = ? AND user_id = ?',
        params: [Long.fromString(seq.toString()), Long.fromString(seq.toString()), Long.fromNumber(at), chatId, userId],
      },
    ]);
  }

  async readSeq(chatId: string, userId: string): Promise<bigint> {
    const rs = await this.client.execute('SELECT read_seq FROM receipt_marks WHERE chat_id = ? AND user_id = ?', [chatId, userId], { prepare: true });
    return big(rs.first()?.['read_seq']);
  }

  async marks(chatId: string): Promise<ReceiptMark[]> {
    const rs = await this.client.execute('SELECT user_id, delivered_seq, delivered_at, read_seq, read_at FROM receipt_marks WHERE chat_id = ?', [chatId], {
      prepare: true,
      fetchSize: 2000,
    });
    return rs.rows.map((r) => ({
      userId: r['user_id'] as string,
      deliveredSeq: big(r['delivered_seq']),
      deliveredAt: num(r['delivered_at']),
      readSeq: big(r['read_seq']),
      readAt: num(r['read_at']),
    }));
  }
}
