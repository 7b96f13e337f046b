// ChatManager: chats, members and roles. Every membership change, rename and creation is an operation
// committed into the chat's sequence in four steps (docs/architecture.md):
//   1. validate, then record the op on the chat row (LWT, optimistic on the chat's version) and
//      write the affected member rows as pending;
//   2. append its system message (idempotency key = op id) → seq n;
//   3. finalize the member rows with n, then clear the op (LWT) making it the chat's new version;
//   4. publish chat.updated to every member device (and to the removed members).
// An op left pending by a crash is finished by whoever touches the chat next (a retry, a read) once
// it is older than `staleOpMs`; younger ops are waited for, since their owner is probably alive.
import { randomBytes } from 'node:crypto';
import { mapLimit } from '@parley/kit';
import { fail } from './errors.js';
import { finalRows, pendingRows, recipientsOf, systemMessages } from './operations.js';
import {
  currentMembers,
  directChatId,
  isCurrent,
  planAdd,
  planGroupMembers,
  planRemove,
  planRename,
  planRole,
  requireMember,
  validateName,
  validateUserIds,
} from './rules.js';
import type { ChatEvents, ChatHead, ChatRecord, ChatStore, ChatView, MemberRecord, MessageLog, PendingOp, Role, UserDirectory } from './model.js';

export interface ChatManagerOptions {
  /** Members per group, creator included (GROUP_MAX_MEMBERS). */
  maxMembers: number;
  /** chat.list returns at most this many chats, most recent activity first (GROUP_LIST_LIMIT). */
  listLimit: number;
  /** A pending op older than this is presumed abandoned and finished by the next caller (GROUP_STALE_OP_MS). */
  staleOpMs: number;
  /** How long a caller waits for someone else's op before answering `unavailable` (ms). */
  busyWaitMs?: number;
  now?: () => number;
  newId?: () => string;
  /** Called when a best-effort step fails (publishing chat.updated, healing during a read). */
  onWarn?: (msg: string, err: unknown) => void;
  /** Called for every op that completes, with whether it was finished by another caller (healed). */
  onOp?: (kind: string, healed: boolean) => void;
}

export interface MembersResult {
  type?: ChatRecord['type'];
  members: MemberRecord[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const HEADS_BATCH = 100;
const READ_CONCURRENCY = 32;


/** Users per ListMembershipsMany call. */
export const MAX_MEMBERSHIP_USERS = 1000;

export class ChatManager {
  private readonly now: () => number;
  private readonly newId: () => string;
  private readonly busyWaitMs: number;

  constructor(
    private readonly store: ChatStore,
    private readonly log: MessageLog,
    private readonly users: UserDirectory,
    private readonly events: ChatEvents,
    private readonly opts: ChatManagerOptions,
  ) {
    this.now = opts.now ?? Date.now;
    this.newId = opts.newId ?? (() => randomBytes(12).toString('base64url'));
    this.busyWaitMs = opts.busyWaitMs ?? opts.staleOpMs + 5_000;
  }

  // ---- creation ---------------------------------------------------------------------------

  async createDirect(actor: string, peer: string): Promise<ChatView> {
    const [peerId] = validateUserIds([peer], 'userId');
    if (!peerId) fail('bad_request', 'userId is required');
    if (peerId === actor) fail('bad_request', 'a direct chat needs another user');
    const chatId = directChatId(actor, peerId);
    const existing = await this.store.getChat(chatId);
    if (existing && !existing.pendingOp) return this.viewFor(existing, actor);
    if (!existing) {
      const found = await this.users.existingUsers([peerId]);
      if (!found.has(peerId)) fail('not_found', 'no such user');
      const chat: ChatRecord = { chatId, type: 'direct', createdAt: this.now(), createdBy: actor };
      const op = this.newOp('created', 'direct', actor, [actor, peerId], { roles: { [actor]: 'member', [peerId]: 'member' } });
      const { applied } = await this.store.insertChat(chat, op);
      if (applied) return this.runOp(chat, op, new Map());
    }
    // Someone else created it (maybe concurrently): wait for (or finish) its creation.
    const settled = await this.settled(chatId);
    return this.viewFor(settled, actor);
  }

  async createGroup(actor: string, rawName: string, memberIds: readonly string[]): Promise<ChatView> {
    const name = validateName(rawName);
    const others = planGroupMembers(actor, memberIds, this.opts.maxMembers);
    if (others.length > 0) {
      const found = await this.users.existingUsers(others);
      const missing = others.filter((u) => !found.has(u));
      if (missing.length > 0) fail('not_found', `no such user: ${missing.slice(0, 5).join(', ')}`);
    }
    const chat: ChatRecord = { chatId: `g_${randomBytes(16).toString('base64url')}`, type: 'group', name, createdAt: this.now(), createdBy: actor };
    const roles: Record<string, Role> = { [actor]: 'admin' };
    for (const u of others) roles[u] = 'member';
    const op = this.newOp('created', 'group', actor, [actor, ...others], { roles, name });
    const { applied } = await this.store.insertChat(chat, op);
    if (!applied) fail('conflict', 'chat id collision, retry');
    return this.runOp(chat, op, new Map());
  }

  // ---- membership changes -----------------------------------------------------------------

  rename(actor: string, chatId: string, name: string): Promise<ChatView> {
    return this.mutate(actor, chatId, (chat, members) => {
      const next = planRename(chat, members, actor, name);
      return next === undefined ? undefined : this.newOp('renamed', chat.type, actor, [], { name: next });
    });
  }

  addMembers(actor: string, chatId: string, userIds: readonly string[]): Promise<ChatView> {
    return this.mutate(
      actor,
      chatId,
      (chat, members) => {
        const toAdd = planAdd(chat, members, actor, userIds, this.opts.maxMembers);
        return toAdd.length === 0 ? undefined : this.newOp('members.added', chat.type, actor, toAdd, {});
      },
      async (op) => {
        const found = await this.users.existingUsers(op.userIds);
        const missing = op.userIds.filter((u) => !found.has(u));
        if (missing.length > 0) fail('not_found', `no such user: ${missing.slice(0, 5).join(', ')}`);
      },
    );
  }

  removeMembers(actor: string, chatId: string, userIds: readonly string[]): Promise<ChatView> {
    return this.mutate(actor, chatId, (chat, members) => {
      const plan = planRemove(chat, members, actor, userIds);
      if (plan.toRemove.length === 0) return undefined;
      return this.newOp('members.removed', chat.type, actor, plan.toRemove, plan.promote ? { promote: plan.promote } : {});
    });
  }

  setRole(actor: string, chatId: string, target: string, role: Role): Promise<ChatView> {
    return this.mutate(actor, chatId, (chat, members) => {
      const next = planRole(chat, members, actor, target, role);
      return next === undefined ? undefined : this.newOp('role', chat.type, actor, [target], { role: next });
    });
  }

  // ---- reads ------------------------------------------------------------------------------

  async getChat(actor: string, chatId: string): Promise<ChatView> {
    let chat = await this.store.getChat(chatId);
    if (!chat) fail('not_member', `not a member of chat ${chatId}`); // same answer as an existing chat's, to a stranger
    if (chat.pendingOp && this.isStale(chat.pendingOp)) chat = await this.settled(chatId);
    return this.viewFor(chat, actor);
  }

  async listChats(actor: string): Promise<ChatView[]> {
    let rows = await this.store.listUserChats(actor);
    if (rows.some((r) => r.pending)) {
      // Finish abandoned ops this user is part of, so the list does not hide a chat forever.
      await this.healStale(rows.filter((r) => r.pending).map((r) => r.chatId));
      rows = await this.store.listUserChats(actor);
    }
    const ids = rows.filter(isCurrent).map((r) => r.chatId);
    const heads = await this.heads(ids);
    const ranked = ids
      .map((chatId) => ({ chatId, head: heads.get(chatId) }))
      .sort((a, b) => (b.head?.lastActivityAt ?? 0) - (a.head?.lastActivityAt ?? 0) || (a.chatId < b.chatId ? -1 : 1))
      .slice(0, this.opts.listLimit);
    const views = await mapLimit(ranked, READ_CONCURRENCY, async ({ chatId, head }) => {
      const [chat, { members }] = await Promise.all([this.store.getChat(chatId), this.store.getMembers(chatId)]);
      if (chat?.pendingOp && this.isStale(chat.pendingOp)) {
        // An abandoned op (e.g. crashed before clearing a rename): finish it, then show the result.
        try {
          return await this.complete(chat, chat.pendingOp, new Map(members.map((m) => [m.userId, m])), true);
        } catch (err) {
          this.opts.onWarn?.(`healing chat ${chatId} failed`, err);
        }
      }
      return chat ? this.toView(chat, members, head) : undefined;
    });
    return views.filter((v): v is ChatView => v !== undefined);
  }

  /** Internal (message service hot path): one partition read. */
  async getMembers(chatId: string, includeLeft: boolean): Promise<MembersResult> {
    const { type, members } = await this.store.getMembers(chatId);
    if (type === undefined && members.length === 0) fail('not_found', 'no such chat');
    return { type, members: includeLeft ? members : members.filter((m) => m.leftSeq === 0) };
  }

  /** Internal (backlog on connect): one partition read. */
  async listMemberships(userId: string, includeLeft: boolean): Promise<MemberRecord[]> {
    const rows = await this.store.listUserChats(userId);
    return includeLeft ? rows : rows.filter((m) => m.leftSeq === 0);
  }

  /** Internal (connect bursts, group-committed by the callers): the memberships of many users, flat. */
  async listMembershipsMany(userIds: string[], includeLeft: boolean): Promise<MemberRecord[]> {
    if (userIds.length > MAX_MEMBERSHIP_USERS) fail('bad_request', `at most ${MAX_MEMBERSHIP_USERS} users per call`);
    const users = [...new Set(userIds.filter((u) => u && u.length <= 128))];
    return (await Promise.all(users.map((u) => this.listMemberships(u, includeLeft)))).flat();
  }

  // ---- the op machinery -------------------------------------------------------------------

  private newOp(kind: PendingOp['kind'], chatType: PendingOp['chatType'], actor: string, userIds: string[], extra: Partial<PendingOp>): PendingOp {
    return { opId: this.newId(), kind, chatType, actor, userIds, startedAt: this.now(), ...extra };
  }

  private isStale(op: PendingOp): boolean {
    return this.now() - op.startedAt >= this.opts.staleOpMs;
  }

  private async mutate(
    actor: string,
    chatId: string,
    plan: (chat: ChatRecord, members: ReadonlyMap<string, MemberRecord>) => PendingOp | undefined,
    check?: (op: PendingOp) => Promise<void>,
  ): Promise<ChatView> {
    const deadline = performance.now() + this.busyWaitMs;
    for (;;) {
      const chat = await this.store.getChat(chatId);
      if (!chat) fail('not_member', `not a member of chat ${chatId}`); // same answer as an existing chat's, to a stranger
      if (chat.pendingOp) {
        await this.settleOnce(chat, chat.pendingOp, deadline);
        continue;
      }
      const members = await this.memberMap(chatId);
      const op = plan(chat, members);
      if (!op) return this.toView(chat, [...members.values()], (await this.heads([chatId])).get(chatId));
      if (check) await check(op);
      if (!(await this.store.acquireOp(chatId, chat.version, op))) {
        if (performance.now() > deadline) fail('unavailable', 'chat is busy, retry');
        continue; // someone changed the chat since we read it: re-validate
      }
      return this.runOp(chat, op, members);
    }
  }

  /** Steps 1b–4 for an op we own. */
  private async runOp(chat: ChatRecord, op: PendingOp, members: ReadonlyMap<string, MemberRecord>): Promise<ChatView> {
    const rows = pendingRows(chat.chatId, op, members);
    if (rows.length > 0) await this.store.writeMembers(chat.chatId, op.chatType, rows);
    return this.complete(chat, op, members, false);
  }

  /** Steps 2–4; safe to run any number of times, by any process. */
  private async complete(chat: ChatRecord, op: PendingOp, members: ReadonlyMap<string, MemberRecord>, healed: boolean): Promise<ChatView> {
    let seq = 0;
    for (const m of systemMessages(op)) {
      const s = await this.log.appendSystemMessage(chat.chatId, m.key, m.event);
      if (seq === 0) seq = s;
    }
    const rows = finalRows(chat.chatId, op, seq, members);
    if (rows.length > 0) await this.store.writeMembers(chat.chatId, op.chatType, rows);
    await this.store.clearOp(chat.chatId, op);
    this.opts.onOp?.(op.kind, healed);

    const after: ChatRecord = { ...chat, version: op.opId, ...(op.kind === 'renamed' ? { name: op.name } : {}) };
    delete after.pendingOp;
    const { members: rowsAfter } = await this.store.getMembers(chat.chatId);
    const head = (await this.heads([chat.chatId]).catch(() => new Map<string, ChatHead>())).get(chat.chatId);
    const view = this.toView(after, rowsAfter, head, seq);
    try {
      await this.events.chatUpdated(view, recipientsOf(op, currentMembers(rowsAfter)));
    } catch (err) {
      this.opts.onWarn?.('chat.updated publish failed', err);
    }
    return view;
  }

  /** One step of waiting for someone else's op: finish it if stale, else sleep a little. */
  private async settleOnce(chat: ChatRecord, op: PendingOp, deadline: number): Promise<void> {
    if (this.isStale(op)) {
      await this.complete(chat, op, await this.memberMap(chat.chatId), true);
      return;
    }
    if (performance.now() > deadline) fail('unavailable', 'chat is busy, retry');
    await sleep(Math.min(100, Math.max(10, op.startedAt + this.opts.staleOpMs - this.now())));
  }

  /** The chat once no op is pending (waiting for, or finishing, the pending one). */
  private async settled(chatId: string): Promise<ChatRecord> {
    const deadline = performance.now() + this.busyWaitMs;
    for (;;) {
      const chat = await this.store.getChat(chatId);
      if (!chat) fail('not_member', `not a member of chat ${chatId}`); // same answer as an existing chat's, to a stranger
      if (!chat.pendingOp) return chat;
      await this.settleOnce(chat, chat.pendingOp, deadline);
    }
  }

  private async healStale(chatIds: string[]): Promise<void> {
    await mapLimit([...new Set(chatIds)], READ_CONCURRENCY, async (chatId) => {
      try {
        const chat = await this.store.getChat(chatId);
        if (chat?.pendingOp && this.isStale(chat.pendingOp)) await this.complete(chat, chat.pendingOp, await this.memberMap(chatId), true);
      } catch (err) {
        this.opts.onWarn?.(`healing chat ${chatId} failed`, err);
      }
    });
  }

  private async memberMap(chatId: string): Promise<Map<string, MemberRecord>> {
    const { members } = await this.store.getMembers(chatId);
    return new Map(members.map((m) => [m.userId, m]));
  }

  private async viewFor(chat: ChatRecord, actor: string): Promise<ChatView> {
    const members = await this.memberMap(chat.chatId);
    requireMember(chat, members, actor);
    return this.toView(chat, [...members.values()], (await this.heads([chat.chatId])).get(chat.chatId));
  }

  private async heads(chatIds: string[]): Promise<Map<string, ChatHead>> {
    const out = new Map<string, ChatHead>();
    const batches: string[][] = [];
    for (let i = 0; i < chatIds.length; i += HEADS_BATCH) batches.push(chatIds.slice(i, i + HEADS_BATCH));
    const results = await mapLimit(batches, 8, (b) => this.log.getChatHeads(b));
    for (const r of results) for (const [k, v] of r) out.set(k, v);
    return out;
  }

  private toView(chat: ChatRecord, rows: readonly MemberRecord[], head: ChatHead | undefined, knownSeq = 0): ChatView {
    const members = currentMembers(rows)
      .sort((a, b) => a.joinedSeq - b.joinedSeq || (a.userId < b.userId ? -1 : 1))
      .map((m) => ({ userId: m.userId, role: m.role }));
    const view: ChatView = {
      chatId: chat.chatId,
      type: chat.type,
      members,
      createdAt: chat.createdAt,
      lastSeq: Math.max(head?.lastSeq ?? 0, knownSeq),
      lastActivityAt: head?.lastActivityAt ?? chat.createdAt,
    };
    if (chat.type === 'group' && chat.name !== undefined) view.name = chat.name;
    return view;
  }
}
