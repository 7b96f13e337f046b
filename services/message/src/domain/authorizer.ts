// Send authorization with a membership cache (membership-cache.ts) that can never authorize after a removal.
// Only POSITIVE answers come from the cache, and a cached snapshot is only trusted for a commit if no
// membership-changing message was committed after it was taken (ChatSequencer.membershipSeq; the commit
// loop re-verifies otherwise, see chat-sequencer.ts). A negative answer always reads through.
// Snapshots holding pending rows are not cached (a pending joiner must become a member promptly).
import type { ChatSequencer } from './chat-sequencer.js';
import { canSend, type MemberRow } from './membership.js';
import { notMember } from './errors.js';
import type { GroupPort } from './ports.js';
import { MembershipCache } from './membership-cache.js';

export class SendAuthorizer {
  private readonly cache: MembershipCache;
  private readonly fetching = new Map<string, Promise<{ asOf: bigint; members: ReadonlyMap<string, MemberRow> }>>();

  constructor(
    private readonly groups: GroupPort,
    private readonly sequencer: ChatSequencer,
    ttlMs: number,
    maxChats = 50_000,
    now: () => number = Date.now,
  ) {
    this.cache = new MembershipCache({ ttlMs, maxChats, now });
  }

  /** Verifies `userId` may send to `chatId`; returns the member row and the seq the check is valid as of. */
  async authorize(chatId: string, userId: string, fresh = false): Promise<{ asOf: bigint; member: MemberRow }> {
    if (!fresh) {
      const snap = this.cache.get(chatId);
      if (snap && snap.asOf >= this.sequencer.membershipSeq(chatId)) {
        const m = snap.byUser.get(userId);
        if (canSend(m)) return { asOf: snap.asOf, member: m! };
      }
    }
    const { asOf, members } = await this.fetch(chatId, !fresh);
    const m = members.get(userId);
    if (!canSend(m)) throw notMember();
    return { asOf, member: m! };
  }

  /**
   * One read of a chat's members at a time (a burst of sends to a cold chat shares it). A `fresh` check
   * (re-verification after a membership change) never joins a read that may have started before it.
   */
  private fetch(chatId: string, share: boolean): Promise<{ asOf: bigint; members: ReadonlyMap<string, MemberRow> }> {
    const running = share ? this.fetching.get(chatId) : undefined;
    if (running) return running;
    const p = (async () => {
      const asOf = await this.sequencer.knownHead(chatId);
      const rows = await this.groups.getMembers(chatId, false);
      return { asOf, members: this.cache.put(chatId, rows, asOf).byUser };
    })();
    if (share) {
      this.fetching.set(chatId, p);
      void p.finally(() => this.fetching.delete(chatId)).catch(() => {});
    }
    return p;
  }

  /**
   * The user's member row from the cache alone, when the cache can vouch for it at every seq ≤ `upTo`:
   * a fresh snapshot taken after the last membership change this process knows of, and `upTo` within the
   * head this process has committed or observed (so any membership change ≤ upTo would have been seen).
   * Undefined otherwise (the caller reads through). Used by the ack path to skip a group read per ack.
   */
  cachedMember(chatId: string, userId: string, upTo: bigint): MemberRow | undefined {
    const snap = this.cache.get(chatId);
    if (!snap) return undefined;
    if (snap.asOf < this.sequencer.membershipSeq(chatId)) return undefined;
    const head = this.sequencer.peekHead(chatId);
    if (head === undefined || upTo > head) return undefined;
    const m = snap.byUser.get(userId);
    return m && !m.pending && m.joinedSeq > 0n ? m : undefined;
  }

  invalidate(chatId: string): void {
    this.cache.invalidate(chatId);
  }
}
