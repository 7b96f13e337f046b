// Media rows in Cassandra: media (one row per upload), media_pending (the sweeper's index by creation hour),
// media_links (media → chat, highest seq). State changes out of `pending` are LWTs (IF state = 1), so a
// complete and the sweeper racing on one upload cannot both win.
import cassandra from 'cassandra-driver';
import type { CassandraClient } from '@parley/kit';
import { State, hourOf, type MediaRecord } from '../domain/media.js';
import type { MediaLink } from '../domain/access.js';

const { types } = cassandra;
const c = types.consistencies;
const Q = { prepare: true, consistency: c.localQuorum };
const LWT = { prepare: true, consistency: c.localQuorum, serialConsistency: c.localSerial };
const Long = types.Long;
const long = (n: number) => Long.fromNumber(n);
const num = (v: unknown): number => (v === null || v === undefined ? 0 : Number((v as { toString(): string }).toString()));

const COLS = 'media_id, owner_user_id, content_type, size, sha256, file_name, state, created_at, expires_at, thumb_state, resolved_at, linked_at';

function toRecord(r: cassandra.types.Row): MediaRecord {
  return {
    mediaId: r.get('media_id') as string,
    ownerUserId: r.get('owner_user_id') as string,
    contentType: r.get('content_type') as string,
    size: num(r.get('size')),
    sha256: r.get('sha256') as string,
    fileName: (r.get('file_name') as string | null) ?? undefined,
    state: num(r.get('state')),
    createdAt: num(r.get('created_at')),
    expiresAt: num(r.get('expires_at')),
    thumbState: num(r.get('thumb_state')),
    resolvedAt: num(r.get('resolved_at')),
    linkedAt: num(r.get('linked_at')),
  };
}

export class MediaStore {
  constructor(private readonly db: CassandraClient) {}

  async create(m: MediaRecord): Promise<void> {
    // The index row first: a crash between the two leaves an index row the sweeper drops, never an
    // unindexed pending upload.
    await this.db.execute('INSERT INTO media_pending (hour, media_id) VALUES (?, ?)', [long(hourOf(m.createdAt)), m.mediaId], Q);
    await this.db.execute(
      `INSERT INTO media (${COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [m.mediaId, m.ownerUserId, m.contentType, long(m.size), m.sha256, m.fileName ?? null, m.state, long(m.createdAt), long(m.expiresAt), m.thumbState, long(0), long(0)],
      Q,
    );
  }

  async get(mediaId: string, serial = false): Promise<MediaRecord | undefined> {
    const rs = await this.db.execute(`SELECT ${COLS} FROM media WHERE media_id = ?`, [mediaId], serial ? { prepare: true, consistency: c.localSerial } : Q);
    const r = rs.first();
    return r && r.get('owner_user_id') !== null ? toRecord(r) : undefined;
  }

  async getMany(ids: string[]): Promise<Map<string, MediaRecord>> {
    const out = new Map<string, MediaRecord>();
    await Promise.all(
      ids.map(async (id) => {
        const m = await this.get(id);
        if (m) out.set(id, m);
      }),
    );
    return out;
  }

  /** pending → to (ready, failed, expired); false when the row was no longer pending. */
  async transition(mediaId: string, to: number, at: number): Promise<boolean> {
    const rs = await this.db.execute('UPDATE media SET state = ?, completed_at = ? WHERE media_id = ? IF state = ?', [to, long(at), mediaId, State.pending], LWT);
    return rs.first()?.get('[applied]') === true;
  }

  async setThumbState(mediaId: string, thumbState: number): Promise<void> {
    await this.db.execute('UPDATE media SET thumb_state = ? WHERE media_id = ?', [thumbState, mediaId], Q);
  }

  async markResolved(ids: string[], at: number): Promise<void> {
    await Promise.all(ids.map((id) => this.db.execute('UPDATE media SET resolved_at = ? WHERE media_id = ?', [long(at), id], Q)));
  }

  async unindex(mediaId: string, createdAt: number): Promise<void> {
    await this.db.execute('DELETE FROM media_pending WHERE hour = ? AND media_id = ?', [long(hourOf(createdAt)), mediaId], Q);
  }

  async pendingInHour(hour: number): Promise<string[]> {
    const rs = await this.db.execute('SELECT media_id FROM media_pending WHERE hour = ?', [long(hour)], { ...Q, fetchSize: 1000 });
    const out: string[] = [];
    for await (const r of rs) out.push(r.get('media_id') as string);
    return out;
  }

  async deleteIndexRow(hour: number, mediaId: string): Promise<void> {
    await this.db.execute('DELETE FROM media_pending WHERE hour = ? AND media_id = ?', [long(hour), mediaId], Q);
  }

  /** Idempotent; the highest seq per (media, chat) wins (the write timestamp is the seq). */
  async recordLink(mediaId: string, chatId: string, seq: number, at: number): Promise<void> {
    await this.db.execute('INSERT INTO media_links (media_id, chat_id, seq) VALUES (?, ?, ?) USING TIMESTAMP ?', [mediaId, chatId, long(seq), long(seq)], Q);
    await this.db.execute('UPDATE media SET linked_at = ? WHERE media_id = ?', [long(at), mediaId], Q);
  }

  async links(mediaId: string): Promise<MediaLink[]> {
    const rs = await this.db.execute('SELECT chat_id, seq FROM media_links WHERE media_id = ?', [mediaId], { ...Q, fetchSize: 1000 });
    const out: MediaLink[] = [];
    for await (const r of rs) out.push({ chatId: r.get('chat_id') as string, seq: num(r.get('seq')) });
    return out;
  }
}
