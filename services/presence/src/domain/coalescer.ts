// Coalesces receipts per chat over a short window: within a window, every receipt bound for one recipient
// user is merged (delivered seqs united per reader, read marks raised to the highest), and the window is
// flushed as one batch per recipient. A sender in a 1,024-member group therefore gets one frame per window,
// not one per member. Pure apart from the timer.
import { create } from '@bufbuild/protobuf';
import { eventsV1 } from '@parley/proto';

type Receipt = eventsV1.ReceiptEvent;

interface Window {
  timer: NodeJS.Timeout | undefined;
  /** recipient userId → (reader userId + status) → merged receipt */
  byRecipient: Map<string, Map<string, Receipt>>;
}

export type FlushFn = (chatId: string, byRecipient: Map<string, Receipt[]>) => Promise<void>;

export function mergeReceipt(into: Receipt | undefined, r: Receipt): Receipt {
  if (!into) return create(eventsV1.ReceiptEventSchema, { chatId: r.chatId, userId: r.userId, status: r.status, seqs: [...r.seqs], upToSeq: r.upToSeq, at: r.at });
  if (r.status === eventsV1.ReceiptStatus.READ) {
    if (r.upToSeq > into.upToSeq) into.upToSeq = r.upToSeq;
  } else {
    const seen = new Set(into.seqs);
    for (const s of r.seqs) if (!seen.has(s)) into.seqs.push(s);
    into.seqs.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    if (r.upToSeq > into.upToSeq) into.upToSeq = r.upToSeq;
  }
  if (r.at > into.at) into.at = r.at;
  return into;
}

export class ReceiptCoalescer {
  private readonly windows = new Map<string, Window>();
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly flush: FlushFn,
    private readonly onError: (err: unknown) => void,
  ) {}

  /** Queues `r` for each recipient; the chat's window closes `windowMs` after its first receipt. */
  add(chatId: string, recipients: Iterable<string>, r: Receipt, windowMs: number): void {
    let w = this.windows.get(chatId);
    if (!w) {
      w = { timer: undefined, byRecipient: new Map() };
      this.windows.set(chatId, w);
      const win = w;
      const fire = () => this.fire(chatId, win);
      w.timer = setTimeout(fire, Math.max(0, windowMs));
    }
    const key = `${r.status}|${r.userId}`;
    for (const to of recipients) {
      let m = w.byRecipient.get(to);
      if (!m) w.byRecipient.set(to, (m = new Map()));
      m.set(key, mergeReceipt(m.get(key), r));
    }
  }

  get pending(): number {
    return this.windows.size;
  }

  private fire(chatId: string, w: Window): void {
    if (this.windows.get(chatId) === w) this.windows.delete(chatId);
    const out = new Map<string, Receipt[]>();
    for (const [to, m] of w.byRecipient) out.set(to, [...m.values()]);
    const p = this.flush(chatId, out).catch(this.onError);
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
  }

  /** Flushes every open window now (shutdown) and waits for the publishes. */
  async drain(): Promise<void> {
    for (const [chatId, w] of [...this.windows]) {
      clearTimeout(w.timer);
      this.fire(chatId, w);
    }
    await Promise.allSettled([...this.inFlight]);
  }
}
