// In-memory fakes of the domain ports, for unit tests only (integration tests use the real servers).
import type { ChatEvents, ChatHead, ChatKind, ChatRecord, ChatStore, ChatView, MemberRecord, MessageLog, PendingOp, SystemEvent, UserDirectory } from './model.js';

export class MemoryChatStore implements ChatStore {
  chats = new Map<string, ChatRecord>();
  members = new Map<string, Map<string, MemberRecord>>();
  types = new Map<string, ChatKind>();
  /** Throw once when the named method is next called (simulates a crash at that step). */
  crashOn?: keyof ChatStore;
  calls: string[] = [];

  private maybeCrash(m: keyof ChatStore) {
    this.calls.push(m);
    if (this.crashOn === m) {
      this.crashOn = undefined;
      throw new Error(`crash in ${m}`);
    }
  }
  async getChat(chatId: string) {
    const c = this.chats.get(chatId);
    return c ? structuredClone(c) : undefined;
  }
  async getMembers(chatId: string) {
    return { type: this.types.get(chatId), members: [...(this.members.get(chatId)?.values() ?? [])].map((m) => ({ ...m })) };
  }
  async listUserChats(userId: string) {
    const out: MemberRecord[] = [];
    for (const rows of this.members.values()) {
      const r = rows.get(userId);
      if (r) out.push({ ...r });
    }
    return out;
  }
  async insertChat(chat: ChatRecord, op: PendingOp) {
    this.maybeCrash('insertChat');
    const existing = this.chats.get(chat.chatId);
    if (existing) return { applied: false, existing: structuredClone(existing) };
    this.chats.set(chat.chatId, { ...structuredClone(chat), pendingOp: structuredClone(op) });
    return { applied: true };
  }
  async acquireOp(chatId: string, expectedVersion: string | undefined, op: PendingOp) {
    this.maybeCrash('acquireOp');
    const c = this.chats.get(chatId);
    if (!c || c.pendingOp || c.version !== expectedVersion) return false;
    c.pendingOp = structuredClone(op);
    return true;
  }
  async writeMembers(chatId: string, chatType: ChatKind, rows: MemberRecord[]) {
    this.maybeCrash('writeMembers');
    this.types.set(chatId, chatType);
    const m = this.members.get(chatId) ?? new Map<string, MemberRecord>();
    for (const r of rows) m.set(r.userId, { ...r });
    this.members.set(chatId, m);
  }
  async clearOp(chatId: string, op: PendingOp) {
    this.maybeCrash('clearOp');
    const c = this.chats.get(chatId);
    if (!c || c.pendingOp?.opId !== op.opId) return;
    delete c.pendingOp;
    c.version = op.opId;
    if (op.kind === 'renamed' && op.name !== undefined) c.name = op.name;
  }
}

export class MemoryMessageLog implements MessageLog {
  seqs = new Map<string, number>();
  log = new Map<string, { seq: number; key: string; event: SystemEvent }[]>();
  failNext = false;
  async appendSystemMessage(chatId: string, key: string, event: SystemEvent) {
    if (this.failNext) {
      this.failNext = false;
      throw new Error('message service down');
    }
    const entries = this.log.get(chatId) ?? [];
    const dup = entries.find((e) => e.key === key);
    if (dup) return dup.seq;
    const seq = (this.seqs.get(chatId) ?? 0) + 1;
    this.seqs.set(chatId, seq);
    entries.push({ seq, key, event });
    this.log.set(chatId, entries);
    return seq;
  }
  /** A user message (to move a chat's activity forward). */
  bump(chatId: string) {
    this.seqs.set(chatId, (this.seqs.get(chatId) ?? 0) + 1);
    this.activity.set(chatId, ++this.clock);
  }
  activity = new Map<string, number>();
  clock = 1_000_000;
  async getChatHeads(chatIds: string[]) {
    const out = new Map<string, ChatHead>();
    for (const id of chatIds) {
      const s = this.seqs.get(id);
      if (s) out.set(id, { chatId: id, lastSeq: s, lastActivityAt: this.activity.get(id) ?? 0 });
    }
    return out;
  }
}

export class MemoryUsers implements UserDirectory {
  constructor(public users = new Set<string>()) {}
  async existingUsers(ids: string[]) {
    return new Set(ids.filter((i) => this.users.has(i)));
  }
}

export class RecordingEvents implements ChatEvents {
  sent: { chat: ChatView; userIds: string[] }[] = [];
  async chatUpdated(chat: ChatView, userIds: string[]) {
    this.sent.push({ chat, userIds: [...userIds].sort() });
  }
}
