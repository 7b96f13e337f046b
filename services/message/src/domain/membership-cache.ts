// The message service's one membership cache component: snapshots of a chat's members (group's GetMembers),
// used by the send authorizer (authorizer.ts) and the fan-out router (fanout-router.ts), each with its own
// instance. One policy for both:
//   - a snapshot holding a pending row is never stored (a pending joiner must become a member promptly);
//   - a snapshot is served for `ttlMs` after it was read from group, never longer;
//   - at most `maxChats` chats are kept, the least recently used dropped first;
//   - a snapshot says the seq it is valid as of (`asOf`: every membership change at or before it is in it);
//     the user decides which seqs that covers (the authorizer: sends committed after the last membership change
//     it knows of; the router: the next seq only) and drops the chat on a membership change (`invalidate`).
import { LruMap } from './lru.js';
import type { MemberRow } from './membership.js';

export interface MembershipSnapshot {
  members: readonly MemberRow[];
  byUser: ReadonlyMap<string, MemberRow>;
  /** Every membership change at or before this seq is reflected. */
  asOf: bigint;
  /** When it was read from group (ms). */
  fetchedAt: number;
}

export interface MembershipCacheOptions {
  ttlMs: number;
  /** Chats kept at most (default 50 000). */
  maxChats?: number;
  now?: () => number;
}

export class MembershipCache {
  private readonly entries: LruMap<string, MembershipSnapshot>;
  readonly now: () => number;

  constructor(private readonly opts: MembershipCacheOptions) {
    this.entries = new LruMap(opts.maxChats ?? 50_000);
    this.now = opts.now ?? Date.now;
  }

  /** The chat's snapshot if it is younger than ttlMs. */
  get(chatId: string): MembershipSnapshot | undefined {
    const s = this.entries.get(chatId);
    return s && this.now() - s.fetchedAt < this.opts.ttlMs ? s : undefined;
  }

  /**
   * Records a snapshot of `rows` valid as of `asOf`, read from group at `fetchedAt`; with a pending row the
   * chat is dropped instead. Returns the snapshot either way.
   */
  put(chatId: string, rows: readonly MemberRow[], asOf: bigint, fetchedAt = this.now()): MembershipSnapshot {
    const snap: MembershipSnapshot = { members: rows, byUser: new Map(rows.map((r) => [r.userId, r])), asOf, fetchedAt };
    if (rows.some((r) => r.pending)) this.entries.delete(chatId);
    else this.entries.set(chatId, snap);
    return snap;
  }

  invalidate(chatId: string): void {
    this.entries.delete(chatId);
  }
}
