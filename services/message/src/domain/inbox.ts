// The inbox (docs/architecture.md "The inbox", design (b)): per (user, device, chat) a cursor — the highest
// contiguous acked seq plus acked seqs beyond a gap. The backlog on connect is read from the log.
//
// A device with no cursor row for a chat gets everything of its membership window within the TTL (protocol
// §8.4: every device of every member, until acked). An operator may cap that first backlog
// (`newDeviceBacklogLimit` > 0: only the most recent N); it is off by default because it cannot tell a
// brand-new login from an existing device that was added to a chat while offline. Either way a baseline
// cursor is written at the start of the range so later backlogs continue from there (nothing committed
// after the first backlog can be skipped). A device's own messages are never streamed to it, and count as acked for its cursor.
import { commonV1 } from '@parley/proto';
import { applyAcks, normalize } from './cursor.js';
import { badRequest } from './errors.js';
import type { MemberRow } from './membership.js';
import type { CursorStore, GroupPort, LogReader, ReceiptPublisher } from './ports.js';

export const MAX_ACK_ITEMS = 500;

export interface InboxOptions {
  ttlMs: number;
  /** 0 = no cap (the default). */
  newDeviceBacklogLimit: number;
  pageSize?: number;
  /** How far into a gap the ack path looks for the device's own messages. */
  ownGapScan?: number;
  /** A member row the membership cache can vouch for at every seq ≤ upTo (SendAuthorizer.cachedMember). */
  cachedMember?: (chatId: string, userId: string, upTo: bigint) => MemberRow | undefined;
  now?: () => number;
}

export class InboxManager {
  private readonly now: () => number;
  constructor(
    private readonly groups: GroupPort,
    private readonly log: LogReader,
    private readonly cursors: CursorStore,
    private readonly receipts: ReceiptPublisher,
    private readonly opts: InboxOptions,
  ) {
    this.now = opts.now ?? Date.now;
  }

  async ack(userId: string, deviceId: string, items: ReadonlyArray<{ chatId: string; seq: bigint }>): Promise<void> {
    if (items.length > MAX_ACK_ITEMS) throw badRequest(`at most ${MAX_ACK_ITEMS} items`);
    if (items.length === 0) return;
    const byChat = new Map<string, bigint[]>();
    for (const it of items) {
      if (!it.chatId || it.seq <= 0n) continue;
      let l = byChat.get(it.chatId);
      if (!l) byChat.set(it.chatId, (l = []));
      l.push(it.seq);
    }
    if (byChat.size === 0) return;
    // Membership bounds: from the cache where it can vouch for them, else one read of all the user's chats.
    const memberships = new Map<string, MemberRow>();
    for (const [chatId, seqs] of byChat) {
      const max = seqs.reduce((a, b) => (a > b ? a : b));
      const m = this.opts.cachedMember?.(chatId, userId, max);
      if (m) memberships.set(chatId, m);
    }
    if (memberships.size < byChat.size) {
      for (const m of await this.groups.listMemberships(userId)) if (!memberships.has(m.chatId)) memberships.set(m.chatId, m);
    }
    await Promise.all(
      [...byChat].map(async ([chatId, seqs]) => {
        const m = memberships.get(chatId);
        if (!m || m.joinedSeq <= 0n) return; // never a member: ignored
        const inBounds = [...new Set(seqs)].filter((s) => s >= m.joinedSeq && (m.leftSeq === 0n || s <= m.leftSeq));
        if (inBounds.length === 0) return;
        // Only seqs that exist (≤ the chat's head) and were not sent by this very device count.
        const rows = await this.log.getMessages(chatId, inBounds);
        const own = (r: commonV1.Message) => r.sender?.userId === userId && r.sender?.deviceId === deviceId;
        const valid = rows.filter((r) => !own(r));
        if (valid.length === 0) return;
        const stored = await this.cursors.readOne(userId, deviceId, chatId);
        const floor = m.joinedSeq - 1n;
        const state = { acked: stored?.acked ?? floor, pending: stored?.pending ?? [] };
        let res = applyAcks(state, valid.map((r) => r.seq), floor);
        const newly = new Set(res.newlyAcked);
        // A gap made of this device's own messages (never delivered to it) is acked implicitly.
        for (let round = 0; round < 4 && res.pending.length > 0; round += 1) {
          const gapEnd = res.pending[0]! - 1n;
          const gap = await this.log.readAfter(chatId, res.acked, gapEnd, this.opts.ownGapScan ?? 200);
          let expect = res.acked + 1n;
          const ownRun: bigint[] = [];
          for (const r of gap) {
            if (r.seq !== expect || !own(r)) break;
            ownRun.push(r.seq);
            expect += 1n;
          }
          if (ownRun.length === 0) break;
          res = applyAcks({ acked: res.acked, pending: res.pending }, ownRun, floor);
        }
        const finalState = normalize({ acked: res.acked, pending: res.pending });
        const before = normalize({ acked: state.acked > floor ? state.acked : floor, pending: state.pending });
        const absorbed = before.pending.filter((s) => s <= finalState.acked);
        const added = finalState.pending.filter((s) => !before.pending.includes(s));
        // Delivered receipts for user messages of others, first acked now (published before the cursor moves,
        // so a retried ack republishes rather than loses them).
        const receipts = valid
          .filter((r) => newly.has(r.seq) && r.kind === commonV1.MessageKind.USER && r.sender?.userId !== userId)
          .map((r) => ({ seq: r.seq, sender: r.sender?.userId ?? '' }))
          .sort((a, b) => (a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : 0));
        if (receipts.length > 0) await this.receipts.publishDelivered(chatId, userId, receipts, this.now());
        if (finalState.acked !== before.acked || added.length > 0 || absorbed.length > 0 || !stored) {
          await this.cursors.write(userId, deviceId, chatId, finalState.acked, added, absorbed);
        }
      }),
    );
  }

  /** Streams every message pending for the device, per chat in seq order; returns the count. */
  async backlog(userId: string, deviceId: string, emit: (m: commonV1.Message) => Promise<void> | void): Promise<number> {
    let count = 0;
    for await (const m of this.backlogIter(userId, deviceId)) {
      await emit(m);
      count += 1;
    }
    return count;
  }

  /** Every message pending for the device, per chat in seq order (pulled page by page). */
  async *backlogIter(userId: string, deviceId: string, signal?: AbortSignal): AsyncGenerator<commonV1.Message> {
    const [memberships, cursors] = await Promise.all([this.groups.listMemberships(userId), this.cursors.read(userId, deviceId)]);
    const byChat = new Map(cursors.map((c) => [c.chatId, c]));
    const cutoff = BigInt(this.now() - this.opts.ttlMs);
    const page = this.opts.pageSize ?? 200;
    for (const m of memberships) {
      if (signal?.aborted) return;
      if (m.pending || m.joinedSeq <= 0n) continue; // membership being committed: next connect
      const floor = m.joinedSeq - 1n;
      const upTo = m.leftSeq === 0n ? undefined : m.leftSeq;
      const cur = byChat.get(m.chatId);
      let from: bigint;
      let skip = new Set<bigint>();
      if (cur) {
        const n = normalize({ acked: cur.acked, pending: cur.pending });
        from = n.acked > floor ? n.acked : floor;
        skip = new Set(n.pending);
      } else {
        const head = await this.log.findHead(m.chatId, await this.log.headHint(m.chatId));
        const end = upTo !== undefined && upTo < head ? upTo : head;
        const limit = this.opts.newDeviceBacklogLimit;
        const capped = limit > 0 ? end - BigInt(limit) : floor;
        from = capped > floor ? capped : floor;
        await this.cursors.write(userId, deviceId, m.chatId, from, [], []);
      }
      let after = from;
      for (;;) {
        if (upTo !== undefined && after >= upTo) break;
        if (signal?.aborted) return;
        const rows = await this.log.readAfter(m.chatId, after, upTo, page);
        for (const r of rows) {
          if (skip.has(r.seq)) continue;
          if (r.sender?.userId === userId && r.sender?.deviceId === deviceId) continue;
          if (r.createdAt < cutoff) continue;
          yield r;
        }
        if (rows.length < page) break;
        after = rows[rows.length - 1]!.seq;
      }
    }
  }
}
