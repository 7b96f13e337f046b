// Cassandra adapter for chats, chat_members and user_chats. Prepared statements only; the chat row's
// pending op is set and cleared with lightweight transactions (never mixed with plain writes of the
// same columns).
import { BatchedLookup, type CassandraClient } from '@parley/kit';
import type { ChatKind, ChatRecord, ChatStore, MemberRecord, PendingOp, Role } from '../domain/model.js';

type Row = { get(name: string): unknown };

const WRITE_CONCURRENCY = 64;

function num(v: unknown): number {
  if (v === null || v === undefined) return 0;
  if (typeof v === 'number') return v;
  return Number(String(v));
}

function str(v: unknown): string | undefined {
  return v === null || v === undefined ? undefined : String(v);
}

function parseOp(v: unknown): PendingOp | undefined {
  const s = str(v);
  return s ? (JSON.parse(s) as PendingOp) : undefined;
}

function toChat(r: Row): ChatRecord {
  const chat: ChatRecord = {
    chatId: String(r.get('chat_id')),
    type: String(r.get('type')) as ChatKind,
    createdAt: (r.get('created_at') as Date | null)?.getTime() ?? 0,
    createdBy: str(r.get('created_by')) ?? '',
  };
  const name = str(r.get('name'));
  if (name !== undefined) chat.name = name;
  const version = str(r.get('version'));
  if (version !== undefined) chat.version = version;
  const op = parseOp(r.get('pending_op'));
  if (op) chat.pendingOp = op;
  return chat;
}

function toMember(chatId: string, userId: string, r: Row): MemberRecord {
  const m: MemberRecord = {
    chatId,
    userId,
    role: (str(r.get('role')) ?? 'member') as Role,
    joinedSeq: num(r.get('joined_seq')),
    leftSeq: num(r.get('left_seq')),
    pending: r.get('pending') === true,
  };
  const opId = str(r.get('op_id'));
  if (opId !== undefined) m.opId = opId;
  return m;
}

export class ChatsStore implements ChatStore {
  private readonly userChats = new BatchedLookup<string, MemberRecord[]>((ids) => this.readUserChats(ids), { maxKeys: 100, maxInFlight: 4 });

  constructor(private readonly db: CassandraClient) {}

  async getChat(chatId: string): Promise<ChatRecord | undefined> {
    const rs = await this.db.execute(
      'SELECT chat_id, type, name, created_at, created_by, version, pending_op FROM chats WHERE chat_id = ?',
      [chatId],
      { prepare: true },
    );
    const row = rs.first();
    return row && row.get('type') !== null ? toChat(row) : undefined;
  }

  async getMembers(chatId: string): Promise<{ type?: ChatKind; members: MemberRecord[] }> {
    const rs = await this.db.execute(
      'SELECT chat_type, user_id, role, joined_seq, left_seq, pending, op_id FROM chat_members WHERE chat_id = ?',
      [chatId],
      { prepare: true, fetchSize: 5000 },
    );
    const members: MemberRecord[] = [];
    let type: ChatKind | undefined;
    for await (const r of rs) {
      type ??= str(r.get('chat_type')) as ChatKind | undefined;
      const userId = str(r.get('user_id'));
      if (userId !== undefined) members.push(toMember(chatId, userId, r));
    }
    return type === undefined ? { members } : { type, members };
  }

  /**
   * One partition read, group-committed with the concurrent ones (the kit's BatchedLookup): a burst of
   * connects (each asks twice: the message service's backlog and presence's receipt replay) becomes one
   * `IN` read per up to 100 users instead of a request each.
   */
  listUserChats(userId: string): Promise<MemberRecord[]> {
    return this.userChats.get(userId).then((r) => r ?? []);
  }

  private async readUserChats(userIds: string[]): Promise<Map<string, MemberRecord[]>> {
    const out = new Map<string, MemberRecord[]>(userIds.map((u) => [u, []]));
    const rs = await this.db.execute('SELECT user_id, chat_id, role, joined_seq, left_seq, pending, op_id FROM user_chats WHERE user_id IN ?', [userIds], {
      prepare: true,
      fetchSize: 5000,
    });
    for await (const r of rs) {
      const u = String(r.get('user_id'));
      out.get(u)?.push(toMember(String(r.get('chat_id')), u, r));
    }
    return out;
  }

  async insertChat(chat: ChatRecord, op: PendingOp): Promise<{ applied: boolean; existing?: ChatRecord }> {
    const rs = await this.db.execute(
      'INSERT INTO chats (chat_id, type, name, created_at, created_by, pending_op_id, pending_op) VALUES (?, ?, ?, ?, ?, ?, ?) IF NOT EXISTS',
      [chat.chatId, chat.type, chat.name ?? null, new Date(chat.createdAt), chat.createdBy, op.opId, JSON.stringify(op)],
      { prepare: true },
    );
    if (rs.wasApplied()) return { applied: true };
    const row = rs.first();
    return row ? { applied: false, existing: toChat(row) } : { applied: false };
  }

  async acquireOp(chatId: string, expectedVersion: string | undefined, op: PendingOp): Promise<boolean> {
    const rs = await this.db.execute(
      'UPDATE chats SET pending_op_id = ?, pending_op = ? WHERE chat_id = ? IF pending_op_id = null AND version = ?',
      [op.opId, JSON.stringify(op), chatId, expectedVersion ?? null],
      { prepare: true },
    );
    return rs.wasApplied();
  }

  async writeMembers(chatId: string, chatType: ChatKind, rows: MemberRecord[]): Promise<void> {
    for (let i = 0; i < rows.length; i += WRITE_CONCURRENCY) {
      await Promise.all(
        rows.slice(i, i + WRITE_CONCURRENCY).flatMap((m) => {
          const cols = [m.role, m.joinedSeq, m.leftSeq, m.pending, m.opId ?? null];
          return [
            this.db.execute(
              'INSERT INTO chat_members (chat_id, user_id, chat_type, role, joined_seq, left_seq, pending, op_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
              [chatId, m.userId, chatType, ...cols],
              { prepare: true },
            ),
            this.db.execute(
              'INSERT INTO user_chats (user_id, chat_id, role, joined_seq, left_seq, pending, op_id) VALUES (?, ?, ?, ?, ?, ?, ?)',
              [m.userId, chatId, ...cols],
              { prepare: true },
            ),
          ];
        }),
      );
    }
  }

  async clearOp(chatId: string, op: PendingOp): Promise<void> {
    if (op.kind === 'renamed' && op.name !== undefined) {
      await this.db.execute(
        'UPDATE chats SET name = ?, version = ?, pending_op_id = null, pending_op = null WHERE chat_id = ? IF pending_op_id = ?',
        [op.name, op.opId, chatId, op.opId],
        { prepare: true },
      );
      return;
    }
    await this.db.execute('UPDATE chats SET version = ?, pending_op_id = null, pending_op = null WHERE chat_id = ? IF pending_op_id = ?', [
      op.opId,
      chatId,
      op.opId,
    ], { prepare: true });
  }
}
