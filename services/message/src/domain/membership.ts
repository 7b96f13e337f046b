// Membership bounds in the chat's sequence (docs/architecture.md "Membership is part of the sequence"):
// a member sees seq in [joined_seq, left_seq] (left_seq 0 = still a member). Rows being committed
// (`pending`) are treated conservatively: a pending leaver no longer sends or receives, a pending joiner
// does not yet (it gets the messages after its join from its backlog once the row is final).
import { commonV1, type groupV1 } from '@parley/proto';

export type MemberRow = Pick<groupV1.Membership, 'userId' | 'joinedSeq' | 'leftSeq' | 'pending'>;

/** A current member who may send now. */
export function canSend(m: MemberRow | undefined): boolean {
  return !!m && !m.pending && m.joinedSeq > 0n && m.leftSeq === 0n;
}

/** Whether the membership's bounds contain `seq` (no pending rows). */
export function sees(m: MemberRow, seq: bigint): boolean {
  if (m.pending || m.joinedSeq <= 0n) return false;
  return m.joinedSeq <= seq && (m.leftSeq === 0n || seq <= m.leftSeq);
}

/** The seq range (after, upTo] a member may read, or undefined if none (upTo undefined = unbounded). */
export function visibleRange(m: MemberRow): { after: bigint; upTo: bigint | undefined } | undefined {
  if (m.pending || m.joinedSeq <= 0n) return undefined;
  return { after: m.joinedSeq - 1n, upTo: m.leftSeq === 0n ? undefined : m.leftSeq };
}

const MEMBERSHIP_ACTIONS = new Set<commonV1.SystemAction>([
  commonV1.SystemAction.CREATED,
  commonV1.SystemAction.MEMBERS_ADDED,
  commonV1.SystemAction.MEMBERS_REMOVED,
]);

/** Whether a message changes membership (and so invalidates membership caches). */
export function changesMembership(msg: Pick<commonV1.Message, 'kind' | 'system'>): boolean {
  return msg.kind === commonV1.MessageKind.SYSTEM && !!msg.system && MEMBERSHIP_ACTIONS.has(msg.system.action);
}

/**
 * The users who receive `msg`: members whose bounds contain its seq, plus, for a membership system message,
 * the affected users (the removed see their removal n, the added see n) even while their rows are pending.
 */
export function recipientsOf(msg: Pick<commonV1.Message, 'seq' | 'kind' | 'system'>, members: readonly MemberRow[]): string[] {
  const out = new Set<string>();
  for (const m of members) if (sees(m, msg.seq)) out.add(m.userId);
  if (changesMembership(msg)) for (const u of msg.system?.userIds ?? []) out.add(u);
  return [...out];
}
