// Who may do what to a chat, and the invariants a membership change must keep. Pure functions.
import { fail } from './errors.js';
import type { ChatRecord, MemberRecord, Role } from './model.js';

export const NAME_MAX_CHARS = 128;
export const USER_ID_MAX_CHARS = 128;

/** Deterministic id of the direct chat between two users (defined in the kit; presence uses it too). */
export { directChatId } from '@parley/kit';

/** A group name: trimmed, 1–128 characters (code points), no control characters. */
export function validateName(raw: string): string {
  const name = raw.trim();
  const length = [...name].length;
  if (length < 1 || length > NAME_MAX_CHARS) fail('bad_request', `name must be 1–${NAME_MAX_CHARS} characters`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(name)) fail('bad_request', 'name must not contain control characters');
  return name;
}

/** Non-empty, bounded ids, deduplicated in request order. */
export function validateUserIds(ids: readonly string[], field: string): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  for (const id of ids) {
    if (typeof id !== 'string' || id.length === 0 || id.length > USER_ID_MAX_CHARS) fail('bad_request', `${field}: invalid user id`);
    if (!seen.has(id)) {
      seen.add(id);
      out.push(id);
    }
  }
  return out;
}

/** Members who are in the chat now: joined (committed) and not left. Pending joiners are not yet in. */
export function isCurrent(m: MemberRecord): boolean {
  return m.joinedSeq > 0 && m.leftSeq === 0;
}

/** Members who are in or about to join (a pending join counts, so it is never added twice). */
export function isInOrJoining(m: MemberRecord): boolean {
  return m.leftSeq === 0 && (m.joinedSeq > 0 || m.pending);
}

export function currentMembers(members: Iterable<MemberRecord>): MemberRecord[] {
  return [...members].filter(isCurrent);
}

/** The actor must be a current member; returns its row. */
export function requireMember(chat: ChatRecord, members: ReadonlyMap<string, MemberRecord>, actor: string): MemberRecord {
  const row = members.get(actor);
  if (!row || !isCurrent(row)) fail('not_member', `not a member of chat ${chat.chatId}`);
  return row;
}

export function requireGroup(chat: ChatRecord): void {
  if (chat.type !== 'group') fail('bad_request', 'direct chats have fixed members and no name');
}

export function requireAdmin(chat: ChatRecord, members: ReadonlyMap<string, MemberRecord>, actor: string): MemberRecord {
  const row = requireMember(chat, members, actor);
  if (row.role !== 'admin') fail('forbidden', 'only group admins may do this');
  return row;
}

/** Adding: admins only; already-present users are skipped (idempotent); the cap is enforced. */
export function planAdd(
  chat: ChatRecord,
  members: ReadonlyMap<string, MemberRecord>,
  actor: string,
  userIds: readonly string[],
  maxMembers: number,
): string[] {
  requireGroup(chat);
  requireAdmin(chat, members, actor);
  const ids = validateUserIds(userIds, 'userIds');
  if (ids.length === 0) fail('bad_request', 'userIds must not be empty');
  const toAdd = ids.filter((id) => {
    const row = members.get(id);
    return !row || !isInOrJoining(row);
  });
  const count = [...members.values()].filter(isInOrJoining).length;
  if (count + toAdd.length > maxMembers) fail('conflict', `a group has at most ${maxMembers} members`);
  return toAdd;
}

export interface RemovePlan {
  toRemove: string[];
  /** Promoted to admin because the removal would leave members but no admin. */
  promote?: string;
}

/**
 * Removing: admins may remove anyone; a non-admin member may remove only itself (leave).
 * Users who are not members are skipped (idempotent). When no admin would remain but members
 * would, the longest-standing remaining member (lowest joined seq, then user id) is promoted.
 */
export function planRemove(
  chat: ChatRecord,
  members: ReadonlyMap<string, MemberRecord>,
  actor: string,
  userIds: readonly string[],
): RemovePlan {
  requireGroup(chat);
  const actorRow = requireMember(chat, members, actor);
  const ids = validateUserIds(userIds, 'userIds');
  if (ids.length === 0) fail('bad_request', 'userIds must not be empty');
  const isLeave = ids.length === 1 && ids[0] === actor;
  if (!isLeave && actorRow.role !== 'admin') fail('forbidden', 'only group admins may remove other members');
  const toRemove = ids.filter((id) => {
    const row = members.get(id);
    return row !== undefined && isCurrent(row);
  });
  if (toRemove.length === 0) return { toRemove };
  const removed = new Set(toRemove);
  const remaining = currentMembers(members.values()).filter((m) => !removed.has(m.userId));
  if (remaining.length > 0 && !remaining.some((m) => m.role === 'admin')) {
    const heir = [...remaining].sort((a, b) => a.joinedSeq - b.joinedSeq || (a.userId < b.userId ? -1 : 1))[0];
    return { toRemove, promote: heir?.userId };
  }
  return { toRemove };
}

/** Role changes: admins only, target must be a member; demoting the last admin is a conflict. Undefined = no-op. */
export function planRole(
  chat: ChatRecord,
  members: ReadonlyMap<string, MemberRecord>,
  actor: string,
  target: string,
  role: Role,
): Role | undefined {
  requireGroup(chat);
  requireAdmin(chat, members, actor);
  const row = members.get(target);
  if (!row || !isCurrent(row)) fail('bad_request', 'userId is not a member of this chat');
  if (row.role === role) return undefined;
  if (role === 'member') {
    const admins = currentMembers(members.values()).filter((m) => m.role === 'admin');
    if (admins.length <= 1) fail('conflict', 'a group must keep at least one admin; promote another member first');
  }
  return role;
}

/** Renaming: group admins only. Undefined = unchanged name (no-op). */
export function planRename(chat: ChatRecord, members: ReadonlyMap<string, MemberRecord>, actor: string, rawName: string): string | undefined {
  requireGroup(chat);
  requireAdmin(chat, members, actor);
  const name = validateName(rawName);
  return name === chat.name ? undefined : name;
}

/** Group creation: the creator is the first admin; `others` must not include it and must fit the cap. */
export function planGroupMembers(creator: string, memberIds: readonly string[], maxMembers: number): string[] {
  const others = validateUserIds(memberIds, 'members').filter((id) => id !== creator);
  if (others.length + 1 > maxMembers) fail('bad_request', `a group has at most ${maxMembers} members`);
  return others;
}
