// Receipts to devices (protocol §8.5): the consumer of chat.receipts.v1 (key chatId, so one chat's
// receipts are handled in order by one replica).
//
//   delivered(chat, reader, seqs) → every live device of the senders of those seqs, and the reader's own
//                                  devices; the per-member delivered watermark is raised.
//   read(chat, reader, upToSeq)   → if it raises the reader's read watermark (reads are cumulative and
//                                  monotonic: a lower or equal seq changes nothing): the other member of a
//                                  direct chat, or the senders of the newly read messages in a group, if
//                                  both the reader and that recipient have readReceipts on; and always the
//                                  reader's own devices (a phone and a laptop agree on what is read).
//
// Live frames go through the coalescer (groups: one frame per recipient per window) and the gateways'
// Redis channels (at-most-once). The watermarks in Cassandra are written before the event is committed;
// a device that was offline gets them replayed when it connects (`replay`).
import { create } from '@bufbuild/protobuf';
import { isDirectChatId, mapLimit, type Client, type Logger } from '@parley/kit';
import { commonV1, eventsV1, type groupV1, type messageV1 } from '@parley/proto';
import type { MarksStore } from '../storage/settings-store.js';
import type { DeliveryBus } from '../storage/delivery-bus.js';
import type { LiveStore } from '../storage/live-store.js';
import type { ReceiptCoalescer } from './coalescer.js';
import type { Directory } from './directory.js';
import type { Conn } from './model.js';
import type { SettingsCache } from './settings.js';

type Receipt = eventsV1.ReceiptEvent;
export const MAX_BATCH = 500;
/** How far back a read in a group looks for the senders of newly read messages. */
export const READ_SCAN_MAX = 500;
const REPLAY_WINDOW_MS = 30 * 86_400_000;
/** Marks this close before the device went offline may not have reached it live: replayed too. */
const REPLAY_SLACK_MS = 1_000;
const SEEN_MAX = 500_000;

/** seq → sender userId ('' for system messages), from the message log, cached (a committed seq never changes). */
export class SenderIndex {
  private readonly cache = new Map<string, string>();

  constructor(
    private readonly message: Client<typeof messageV1.MessageService>,
    private readonly max = 200_000,
  ) {}

  private put(chatId: string, seq: bigint, sender: string): void {
    if (this.cache.size >= this.max) {
      const first = this.cache.keys().next();
      if (!first.done) this.cache.delete(first.value);
    }
    this.cache.set(`${chatId}:${seq}`, sender);
  }

  /** Senders of the seqs in [lo, hi] (read as `asUser`, a member). Seqs it cannot read are left out. */
  async range(chatId: string, asUser: string, lo: bigint, hi: bigint): Promise<Map<bigint, string>> {
    const out = new Map<bigint, string>();
    let missing = false;
    for (let s = lo; s <= hi; s += 1n) {
      const v = this.cache.get(`${chatId}:${s}`);
      if (v === undefined) missing = true;
      else out.set(s, v);
    }
    if (!missing) return out;
    let after = lo - 1n;
    for (let page = 0; page < 10 && after < hi; page += 1) {
      const res = await this.message.getHistory({ userId: asUser, chatId, afterSeq: after, beforeSeq: hi + 1n, limit: 100 });
      for (const m of res.messages) {
        const sender = m.kind === commonV1.MessageKind.USER ? (m.sender?.userId ?? '') : '';
        this.put(chatId, m.seq, sender);
        out.set(m.seq, sender);
      }
      if (!res.hasMore || res.messages.length === 0) break;
      after = res.messages[res.messages.length - 1]!.seq;
    }
    return out;
  }
}

export interface ReceiptOptions {
  windowMs: number;
  now?: () => number;
}

export class ReceiptRouter {
  private readonly now: () => number;
  /**
   * (chat, reader, seq) already reported as delivered: the message service publishes a delivered receipt
   * for the first ack of each of the reader's devices, and one chat's receipts are all handled here in
   * order, so this drops the second device's. After a restart or a partition move it is empty again
   * (at-least-once).
   */
  private readonly seen = new Set<string>();

  constructor(
    private readonly marks: MarksStore,
    private readonly settings: SettingsCache,
    private readonly directory: Directory,
    private readonly senders: SenderIndex,
    private readonly group: Client<typeof groupV1.GroupService>,
    private readonly live: LiveStore,
    private readonly bus: DeliveryBus,
    private readonly coalescer: ReceiptCoalescer,
    private readonly logger: Logger,
    private readonly opts: ReceiptOptions,
  ) {
    this.now = opts.now ?? Date.now;
  }

  private windowFor(chatId: string): number {
    return isDirectChatId(chatId) ? 0 : this.opts.windowMs;
  }

  async handle(ev: Receipt): Promise<void> {
    if (!ev.chatId || !ev.userId) return;
    if (ev.status === eventsV1.ReceiptStatus.DELIVERED) return this.delivered(ev);
    if (ev.status === eventsV1.ReceiptStatus.READ) return this.read(ev);
  }

  private async delivered(ev: Receipt): Promise<void> {
    const seqs = [...new Set(ev.seqs)].filter((s) => s > 0n && !this.seen.has(`${ev.chatId}|${ev.userId}|${s}`)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    if (!seqs.length) return;
    for (const s of seqs) {
      if (this.seen.size >= SEEN_MAX) this.seen.clear();
      this.seen.add(`${ev.chatId}|${ev.userId}|${s}`);
    }
    const at = Number(ev.at) || this.now();
    await this.marks.writeDelivered(ev.chatId, ev.userId, seqs[seqs.length - 1]!, at);
    const bySender = new Map<string, bigint[]>();
    const lo = seqs[0]!;
    const hi = seqs[seqs.length - 1]!;
    // The message service names each seq's sender in the event (no log read here); older events without them
    // are looked up (contiguous runs are the common case; a sparse set seq range by seq range).
    const named = ev.senders.length === ev.seqs.length ? new Map(ev.seqs.map((s, i) => [s, ev.senders[i]!] as const)) : undefined;
    const senders =
      named ?? (hi - lo < 1000n ? await this.senders.range(ev.chatId, ev.userId, lo, hi).catch(() => new Map<bigint, string>()) : new Map<bigint, string>());
    for (const s of seqs) {
      const who = senders.get(s);
      if (!who || who === ev.userId) continue;
      let l = bySender.get(who);
      if (!l) bySender.set(who, (l = []));
      l.push(s);
    }
    const base = { chatId: ev.chatId, userId: ev.userId, status: ev.status, at: BigInt(at) };
    const w = this.windowFor(ev.chatId);
    for (const [sender, list] of bySender) this.coalescer.add(ev.chatId, [sender], create(eventsV1.ReceiptEventSchema, { ...base, seqs: list }), w);
    this.coalescer.add(ev.chatId, [ev.userId], create(eventsV1.ReceiptEventSchema, { ...base, seqs }), w);
  }

  private async read(ev: Receipt): Promise<void> {
    const upTo = ev.upToSeq;
    if (upTo <= 0n) return;
    const prev = await this.marks.readSeq(ev.chatId, ev.userId);
    if (upTo <= prev) return; // cumulative and monotonic: nothing changes
    const at = Number(ev.at) || this.now();
    await this.marks.writeRead(ev.chatId, ev.userId, upTo, at);
    const recipients = new Set<string>([ev.userId]);
    const reader = await this.settings.get(ev.userId);
    if (reader.readReceipts) {
      let others: string[];
      if (isDirectChatId(ev.chatId)) {
        others = (await this.directory.chatMembers(ev.chatId)).members.filter((m) => m !== ev.userId);
      } else {
        const lo = prev + 1n > upTo - BigInt(READ_SCAN_MAX) + 1n ? prev + 1n : upTo - BigInt(READ_SCAN_MAX) + 1n;
        const senders = await this.senders.range(ev.chatId, ev.userId, lo, upTo).catch(() => new Map<bigint, string>());
        others = [...new Set(senders.values())].filter((s) => s && s !== ev.userId);
      }
      const st = await this.settings.getMany(others);
      for (const o of others) if (st.get(o)?.readReceipts !== false) recipients.add(o);
    }
    this.coalescer.add(ev.chatId, recipients, create(eventsV1.ReceiptEventSchema, { chatId: ev.chatId, userId: ev.userId, status: ev.status, upToSeq: upTo, at: BigInt(at) }), this.windowFor(ev.chatId));
  }

  /** The coalescer's flush: each recipient's receipts to each of its live connections. */
  async flush(chatId: string, byRecipient: Map<string, Receipt[]>): Promise<void> {
    const conns = await this.live.connections([...byRecipient.keys()]);
    const byUser = new Map<string, Conn[]>();
    for (const c of conns) {
      let l = byUser.get(c.userId);
      if (!l) byUser.set(c.userId, (l = []));
      l.push(c);
    }
    await mapLimit([...byUser], 16, ([u, targets]) => this.sendReceipts(chatId, targets, byRecipient.get(u) ?? []));
  }

  private async sendReceipts(chatId: string, targets: Conn[], receipts: Receipt[]): Promise<void> {
    for (let i = 0; i < receipts.length; i += MAX_BATCH) {
      const part = receipts.slice(i, i + MAX_BATCH);
      if (part.length === 1) await this.bus.send(targets, { case: 'receipt', value: part[0]! });
      else await this.bus.send(targets, { case: 'receipts', value: { chatId, receipts: part } });
    }
  }

  /**
   * Receipts a device missed while offline: for each chat of the user, the members' delivered and read
   * watermarks that moved since the device last went offline (all within 30 days if that is unknown), to
   * this one connection. Read marks obey readReceipts (the user's and the reader's); the user's own read
   * marks always come (another device of the same user read them).
   */
  async replay(c: Conn): Promise<number> {
    const now = this.now();
    const lastOff = await this.live.deviceLastOffline(c.deviceId);
    const since = (lastOff ?? now - REPLAY_WINDOW_MS) - REPLAY_SLACK_MS;
    const { memberships } = await this.group.listMemberships({ userId: c.userId, includeLeft: false });
    const me = await this.settings.get(c.userId);
    let sent = 0;
    await mapLimit(
      memberships.filter((m) => !m.pending && m.joinedSeq > 0n),
      8,
      async (m) => {
        const marks = (await this.marks.marks(m.chatId)).filter((k) => k.deliveredAt > since || k.readAt > since);
        if (!marks.length) return;
        const readers = await this.settings.getMany(marks.filter((k) => k.userId !== c.userId && k.readAt > since).map((k) => k.userId));
        const items: Receipt[] = [];
        for (const k of marks) {
          const mine = k.userId === c.userId;
          if (!mine && k.deliveredAt > since && k.deliveredSeq > 0n) {
            items.push(create(eventsV1.ReceiptEventSchema, { chatId: m.chatId, userId: k.userId, status: eventsV1.ReceiptStatus.DELIVERED, seqs: [k.deliveredSeq], upToSeq: k.deliveredSeq, at: BigInt(k.deliveredAt) }));
          }
          if (k.readAt > since && k.readSeq > 0n && (mine || (me.readReceipts && readers.get(k.userId)?.readReceipts !== false))) {
            items.push(create(eventsV1.ReceiptEventSchema, { chatId: m.chatId, userId: k.userId, status: eventsV1.ReceiptStatus.READ, upToSeq: k.readSeq, at: BigInt(k.readAt) }));
          }
        }
        if (!items.length) return;
        sent += items.length;
        await this.sendReceipts(m.chatId, [c], items);
      },
    );
    if (sent) this.logger.debug({ userId: c.userId, deviceId: c.deviceId, sent }, 'receipts replayed');
    return sent;
  }
}
