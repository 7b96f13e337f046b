// The membership-operation state machine (docs/architecture.md "Membership is part of the sequence"):
// which rows an operation writes while pending, which it writes once its seq n is known, and the
// system messages it appends. Pure: the same op and seq always give the same rows, so a retry or a
// second process finishing the op writes exactly what the first would have.
import type { MemberRecord, PendingOp, SystemEvent } from './model.js';

/** The system messages of an op, each with its idempotency key. The first one's seq is the boundary. */
export function systemMessages(op: PendingOp): { key: string; event: SystemEvent }[] {
  const main: SystemEvent = { action: op.kind, actor: op.actor, userIds: op.kind === 'renamed' ? [] : [...op.userIds] };
  if (op.name !== undefined && (op.kind === 'renamed' || op.kind === 'created')) main.name = op.name;
  if (op.kind === 'role' && op.role) main.role = op.role;
  const out = [{ key: op.opId, event: main }];
  if (op.promote) out.push({ key: `${op.opId}.promote`, event: { action: 'role', actor: op.actor, userIds: [op.promote], role: 'admin' } });
  return out;
}

/** The rows of a create's or an add's joiners: their role (default member), joined at `joinedSeq`. */
function joinerRows(chatId: string, op: PendingOp, joinedSeq: number, pending: boolean): MemberRecord[] {
  return op.userIds.map((userId) => ({ chatId, userId, role: op.roles?.[userId] ?? 'member', joinedSeq, leftSeq: 0, pending, opId: op.opId }));
}

/** Rows written before the append: joiners and leavers are marked pending with the op id. */
export function pendingRows(chatId: string, op: PendingOp, current: ReadonlyMap<string, MemberRecord>): MemberRecord[] {
  switch (op.kind) {
    case 'created':
    case 'members.added':
      return joinerRows(chatId, op, 0, true);
    case 'members.removed':
      return op.userIds.flatMap((userId) => {
        const row = current.get(userId);
        return row ? [{ ...row, pending: true, opId: op.opId }] : [];
      });
    default:
      return [];
  }
}

/** Rows written once the op's system message has seq n (and, for a promotion, its own message too). */
export function finalRows(chatId: string, op: PendingOp, seq: number, current: ReadonlyMap<string, MemberRecord>): MemberRecord[] {
  switch (op.kind) {
    case 'created':
    case 'members.added':
      return joinerRows(chatId, op, seq, false);
    case 'members.removed': {
      const rows = op.userIds.flatMap((userId) => {
        const row = current.get(userId);
        return row ? [{ ...row, leftSeq: seq, pending: false, opId: op.opId }] : [];
      });
      const heir = op.promote ? current.get(op.promote) : undefined;
      if (heir) rows.push({ ...heir, role: 'admin', pending: false, opId: op.opId });
      return rows;
    }
    case 'role': {
      const target = op.userIds[0] === undefined ? undefined : current.get(op.userIds[0]);
      return target && op.role ? [{ ...target, role: op.role, opId: op.opId }] : [];
    }
    case 'renamed':
      return [];
  }
}

/** Who hears `chat.updated` for an op: the members after it, plus anyone it removed. */
export function recipientsOf(op: PendingOp, membersAfter: readonly MemberRecord[]): string[] {
  const ids = new Set(membersAfter.map((m) => m.userId));
  if (op.kind === 'members.removed') for (const u of op.userIds) ids.add(u);
  return [...ids];
}
