// Receipts to devices (protocol §8.5): the consumer of chat.receipts.v1 (key chatId, so one chat's
// receipts are handled in order by one replica).
//
//   delivered(chat, reader, seqs) → every live device of the senders of those seqs (protocol §8.5); the
//                                  per-member delivered watermark is raised. Not to the reader's own devices:
//                                  they hold the messages themselves, and in a 1,024-member group that frame
//                                  doubled the receipt work per delivery (bench/README.md, "Fifth pass").
//   read(chat, reader, upToSeq)   → if it raises the reader's read watermark (reads are cumulative and
//                                  monotonic: a lower or equal seq changes nothing): the other member of a
//                                  direct chat, or the senders of the newly read messages in a group, if
//                                  both the reader and that recipient have readReceipts on; and always the
//                                  reader's own devices (a phone and a laptop agree on what is read).
//
// Live frames go through the coalescer (groups: one frame per recipient per window) and the gateways'
// Redis channels. The watermarks in Cassandra are written before the event is committed; a device that
// was offline, or whose live frame was lost in a crash, gets them replayed when it connects (`replay`).
// Every frame to a device, live or replayed, first passes the device's ledger (adapters/receipt-ledger.ts),
// which drops what that device was sent before: a receipt reaches each device at most once.
import { create } from '@bufbuild/protobuf';
import { isDirectChatId, mapLimit, type Client, type Logger } from '@parley/kit';
import { commonV1, eventsV1, type groupV1, type messageV1 } from '@parley/proto';
import type { DeliveryPort, LivePort } from './ports.js';
import type { LedgerItem, LedgerPort, MarksPort } from './ports.js';
import type { ReceiptCoalescer } from './coalescer.js';
import type { Directory } from './directory.js';
import type { Conn } from './model.js';
import type { SettingsCache } from './settings.js';

type Receipt = eventsV1.ReceiptEvent;
export const MAX_BATCH = 500;
/** How far back a read in a group looks for the senders of newly read messages. */
export const READ_SCAN_MAX = 500;
const REPLAY_WINDOW_MS = 30 * 86_400_000;
/** How far below a delivered watermark a replay looks for the user's own messages. */
export const REPLAY_SCAN = 500n;

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

  private readonly inFlight = new Map<string, Promise<Map<bigint, string>>>();

  /** Senders of the seqs in [lo, hi] (read as `asUser`, a member). Seqs it cannot read are left out. */
  async range(chatId: string, asUser: string, lo: bigint, hi: bigint): Promise<Map<bigint, string>> {
    // Concurrent misses for the same range (every member acking the same new message) share one read.
    const k = `${chatId}:${lo}:${hi}`;
    const running = this.inFlight.get(k);
    if (running) return running;
    const p = this.load(chatId, asUser, lo, hi).finally(() => this.inFlight.delete(k));
    this.inFlight.set(k, p);
    return p;
  }

  private async load(chatId: string, asUser: string, lo: bigint, hi: bigint): Promise<Map<bigint, string>> {
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
  /** For each live receipt published: ms since its `at` (the ack or read at the message service). */
  onPublished?: (ageMs: number) => void;
  now?: () => number;
}


const toReceipt = (chatId: string, reader: string, status: eventsV1.ReceiptStatus, at: bigint, seqs: bigint[]): Receipt =>
  status === eventsV1.ReceiptStatus.READ
    ? create(eventsV1.ReceiptEventSchema, { chatId, userId: reader, status, upToSeq: seqs[0] ?? 0n, at })
    : create(eventsV1.ReceiptEventSchema, { chatId, userId: reader, status, seqs, at });

const READ_MARKS_MAX = 200_000;

export class ReceiptRouter {
  private readonly now: () => number;
  /** (chat|reader) → the read mark this replica wrote last. */
  private readonly readMarks = new Map<string, bigint>();

  constructor(
    private readonly marks: MarksPort,
    private readonly settings: SettingsCache,
    private readonly directory: Directory,
    private readonly senders: SenderIndex,
    private readonly group: Client<typeof groupV1.GroupService>,
    private readonly live: LivePort,
    private readonly ledger: LedgerPort,
    private readonly bus: DeliveryPort,
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

  // The message service publishes a delivered receipt for the first ack of each of the reader's devices,
  // and redelivers after a crash; the ledger, not this handler, keeps each device from seeing one twice.
  private async delivered(ev: Receipt): Promise<void> {
    const seqs = [...new Set(ev.seqs)].filter((s) => s > 0n).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    if (!seqs.length) return;
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
  }

  private async read(ev: Receipt): Promise<void> {
    const upTo = ev.upToSeq;
    if (upTo <= 0n) return;
    // The read mark as this replica last wrote it (marks only rise, so a cached value is never too high; one
    // that is too low after a partition moved only costs a redundant monotonic write, and the ledger drops
    // what devices already have), else the stored one.
    const mk = `${ev.chatId}|${ev.userId}`;
    const prev = this.readMarks.get(mk) ?? (await this.marks.readSeq(ev.chatId, ev.userId));
    if (upTo <= prev) return; // cumulative and monotonic: nothing changes
    const at = Number(ev.at) || this.now();
    await this.marks.writeRead(ev.chatId, ev.userId, upTo, at);
    if (this.readMarks.size >= READ_MARKS_MAX) this.readMarks.delete(this.readMarks.keys().next().value!);
    this.readMarks.delete(mk);
    this.readMarks.set(mk, upTo);
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

  /** The coalescer's flush: each recipient's receipts to each of its live devices, minus what that device was sent before. */
  async flush(chatId: string, byRecipient: Map<string, Receipt[]>): Promise<void> {
    const conns = await this.live.connections([...byRecipient.keys()]);
    const byDevice = new Map<string, Conn[]>();
    for (const c of conns) {
      let l = byDevice.get(c.deviceId);
      if (!l) byDevice.set(c.deviceId, (l = []));
      l.push(c);
    }
    const devices = [...byDevice];
    const sendable = await this.unsent(
      chatId,
      devices.map(([deviceId, cs]) => ({ deviceId, receipts: byRecipient.get(cs[0]!.userId) ?? [] })),
    );
    await mapLimit(devices, 16, ([, targets], i) => this.sendReceipts(chatId, targets, sendable[i]!));
    const seen = this.opts.onPublished;
    if (seen) {
      const now = this.now();
      for (const l of sendable) for (const r of l) if (r.at > 0n) seen(now - Number(r.at));
    }
  }

  /** Each device's receipts with everything it was sent before removed, now recorded as sent (ledger). */
  private async unsent(chatId: string, reqs: { deviceId: string; receipts: Receipt[]; extra?: LedgerItem[] }[]): Promise<Receipt[][]> {
    const READ = eventsV1.ReceiptStatus.READ;
    const kept = await this.ledger.take(
      reqs.map((r) => ({
        deviceId: r.deviceId,
        chatId,
        items: [
          ...r.receipts.map((x): LedgerItem => (x.status === READ ? { kind: 'r', reader: x.userId, seqs: [x.upToSeq] } : { kind: 'd', reader: x.userId, seqs: x.seqs })),
          ...(r.extra ?? []),
        ],
      })),
    );
    return reqs.map((r, i) =>
      r.receipts.flatMap((x, j) => {
        const seqs = kept[i]![j]!;
        return seqs.length ? [toReceipt(chatId, x.userId, x.status, x.at, seqs)] : [];
      }),
    );
  }

  private async sendReceipts(chatId: string, targets: Conn[], receipts: Receipt[]): Promise<void> {
    for (let i = 0; i < receipts.length; i += MAX_BATCH) {
      const part = receipts.slice(i, i + MAX_BATCH);
      if (part.length === 1) await this.bus.send(targets, { case: 'receipt', value: part[0]! });
      else await this.bus.send(targets, { case: 'receipts', value: { chatId, receipts: part } });
    }
  }

  /**
   * Receipts a device has not been sent (it was offline, or a live frame was lost in a crash), to this one
   * connection. For each chat of the user (`ListMemberships`), the members' watermarks (`receipt_marks`,
   * moved within the last 30 days): read marks as `upToSeq`, obeying readReceipts (the user's and the
   * reader's; the user's own read marks always come: another device of the same user read them); delivered
   * marks above what an earlier replay reconciled for this device (ledger `w|`) as the explicit seqs of this
   * user's own messages up to the mark (at most the last REPLAY_SCAN). The ledger drops everything the device
   * was sent before, live or replayed, so nothing arrives twice.
   */
  async replay(c: Conn): Promise<number> {
    const since = this.now() - REPLAY_WINDOW_MS;
    const { memberships } = await this.group.listMemberships({ userId: c.userId, includeLeft: false });
    const me = await this.settings.get(c.userId);
    let sent = 0;
    await mapLimit(
      memberships.filter((m) => !m.pending && m.joinedSeq > 0n),
      8,
      (m) =>
        this.replayChat(c, m.chatId, me.readReceipts, since).then(
          (n) => void (sent += n),
          (err: unknown) => this.logger.warn({ err, deviceId: c.deviceId, chatId: m.chatId }, 'receipt replay of a chat failed (the next connect tries again)'),
        ),
    );
    if (sent) this.logger.debug({ userId: c.userId, deviceId: c.deviceId, sent }, 'receipts replayed');
    return sent;
  }

  private async replayChat(c: Conn, chatId: string, myReadReceipts: boolean, since: number): Promise<number> {
    const D = eventsV1.ReceiptStatus.DELIVERED;
    const R = eventsV1.ReceiptStatus.READ;
    const marks = (await this.marks.marks(chatId)).filter((k) => k.deliveredAt > since || k.readAt > since);
    if (!marks.length) return 0;
    const readers = await this.settings.getMany(marks.filter((k) => k.userId !== c.userId && k.readAt > since).map((k) => k.userId));
    const items: Receipt[] = [];
    for (const k of marks) {
      const mine = k.userId === c.userId;
      if (k.readAt > since && k.readSeq > 0n && (mine || (myReadReceipts && readers.get(k.userId)?.readReceipts !== false))) {
        items.push(toReceipt(chatId, k.userId, R, BigInt(k.readAt), [k.readSeq]));
      }
    }
    const dmarks = marks.filter((k) => k.userId !== c.userId && k.deliveredAt > since && k.deliveredSeq > 0n);
    const done = await this.ledger.watermarks(c.deviceId, chatId, dmarks.map((k) => k.userId));
    const need = dmarks.filter((k) => k.deliveredSeq > (done.get(k.userId) ?? 0n));
    const extra: LedgerItem[] = need.map((k) => ({ kind: 'w', reader: k.userId, seqs: [k.deliveredSeq] }));
    if (need.length) {
      const hi = need.reduce((a, k) => (k.deliveredSeq > a ? k.deliveredSeq : a), 0n);
      const floor = need.reduce((a, k) => {
        const f = (done.get(k.userId) ?? 0n) + 1n;
        return f < a ? f : a;
      }, hi);
      const lo = floor > hi - REPLAY_SCAN + 1n ? floor : hi - REPLAY_SCAN + 1n > 1n ? hi - REPLAY_SCAN + 1n : 1n;
      const senders = await this.senders.range(chatId, c.userId, lo, hi);
      const own = [...senders].filter(([, who]) => who === c.userId).map(([s]) => s).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      for (const k of need) {
        const from = (done.get(k.userId) ?? 0n) + 1n;
        const seqs = own.filter((s) => s >= from && s <= k.deliveredSeq);
        if (seqs.length) items.push(toReceipt(chatId, k.userId, D, BigInt(k.deliveredAt), seqs));
      }
    }
    if (!items.length && !extra.length) return 0;
    const [out] = await this.unsent(chatId, [{ deviceId: c.deviceId, receipts: items, extra }]);
    if (!out!.length) return 0;
    await this.sendReceipts(chatId, [c], out!);
    return out!.length;
  }
}
