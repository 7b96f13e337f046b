// Seq-gap detection for a client (issue 15, "A connected device must not miss a live message"; protocol.md §8.3,
// docs/protocol.md §A "Gaps"). The gateway resynchronises its connected devices after a delivery gap it can see
// (its Redis subscription dropped); this is the client's own line of defence for the gaps it cannot: a chat's
// seqs are gap-free (every message, system ones included, has the next seq), so a device that holds seq 7 and
// receives seq 9 knows that 8 is missing. It waits a short grace (deliveries of different senders carry no
// order promise, so 8 may simply be behind 9), then fetches the range with `message.history` and hands what it
// found to the app as if it had arrived.
//
// Two parts: `SeqGaps`, the pure per-chat bookkeeping (what is held, what is missing), and `GapFiller`, which
// adds the timers and the fetch. Neither owns the connection: the app feeds them what it receives and sends,
// so one filler outlives reconnects (and works with any request function, e.g. the current connection's).
import type { Message } from './types.js';

interface ChatSeqs {
  /** Every seq ≤ this is held (or not wanted: before the device saw the chat). */
  upTo: number;
  /** Held seqs above `upTo`, not yet contiguous with it (so a chat has a gap exactly when this is not empty). */
  above: Set<number>;
}

/** Per-chat seq bookkeeping: which seqs a device holds and which are missing below the highest it has seen. */
export class SeqGaps {
  private readonly chats = new Map<string, ChatSeqs>();

  /**
   * The app holds every seq ≤ `upTo` of this chat (from its storage, or a history page), or does not want
   * them (older than what it shows). Without it, the first seq seen in a chat is where tracking starts.
   */
  holdUpTo(chatId: string, upTo: number): void {
    const c = this.chats.get(chatId);
    if (!c) {
      this.chats.set(chatId, { upTo, above: new Set() });
      return;
    }
    if (upTo <= c.upTo) return;
    c.upTo = upTo;
    for (const s of c.above) if (s <= upTo) c.above.delete(s);
    this.advance(c);
  }

  /** A seq the device now holds: received live, fetched, or its own send (a device is not sent its own). */
  held(chatId: string, seq: number): void {
    const c = this.chats.get(chatId);
    if (!c) {
      this.chats.set(chatId, { upTo: seq, above: new Set() });
      return;
    }
    if (seq <= c.upTo) return;
    c.above.add(seq);
    this.advance(c);
  }

  /** The missing seqs of a chat, as inclusive ranges, lowest first (empty when it has none). */
  missing(chatId: string): Array<[number, number]> {
    const c = this.chats.get(chatId);
    if (!c || c.above.size === 0) return [];
    const out: Array<[number, number]> = [];
    let prev = c.upTo;
    for (const s of [...c.above].sort((a, b) => a - b)) {
      if (s > prev + 1) out.push([prev + 1, s - 1]);
      prev = s;
    }
    return out;
  }

  /** Chats with at least one missing seq. */
  chatsWithGaps(): string[] {
    return [...this.chats.entries()].filter(([, c]) => c.above.size > 0).map(([id]) => id);
  }

  /** Every seq ≤ this one is held (or given up on). */
  contiguousUpTo(chatId: string): number | undefined {
    return this.chats.get(chatId)?.upTo;
  }

  private advance(c: ChatSeqs): void {
    while (c.above.has(c.upTo + 1)) {
      c.above.delete(c.upTo + 1);
      c.upTo++;
    }
  }
}

export interface GapFillerOptions {
  /** How long a gap may stay open before it is fetched (default 500 ms). */
  graceMs?: number;
  /** Fetch rounds per gap before it is given up (a device may not be allowed to read a range) (default 10). */
  maxRounds?: number;
  /** After `connecting`, resume anyway if `drained` has not come within this long (default 30 000 ms). */
  maxPauseMs?: number;
}

/** `message.history` with `afterSeq` (protocol.md §4), through whatever connection is current. */
export type HistoryFetch = (chatId: string, afterSeq: number, limit: number) => Promise<{ messages: Message[]; hasMore: boolean }>;

/**
 * Detects seq gaps in what a device receives and fills them from history after a grace period.
 * Feed it: `received` for every `message.new`, `sent` for every acked send of this device, `connecting` /
 * `drained` around a connection's backlog pass (during it, live and backlog deliveries interleave, so gaps
 * are expected and not chased until `inbox.drained`).
 */
export class GapFiller {
  readonly seqs = new SeqGaps();
  /** Counters: gaps noticed, history fetches made, messages recovered, gaps given up. */
  readonly stats = { gaps: 0, fetches: 0, recovered: 0, givenUp: 0 };
  private readonly timers = new Map<string, ReturnType<typeof setTimeout>>();
  private readonly filling = new Set<string>();
  private paused = false;
  private pauseTimer: ReturnType<typeof setTimeout> | undefined;
  private closed = false;
  private readonly graceMs: number;
  private readonly maxRounds: number;
  private readonly maxPauseMs: number;

  constructor(
    private readonly fetch: HistoryFetch,
    /** Called with the messages a fill recovered, ascending seq. */
    private readonly onRecovered: (messages: Message[]) => void,
    opts: GapFillerOptions = {},
  ) {
    this.graceMs = opts.graceMs ?? 500;
    this.maxRounds = opts.maxRounds ?? 10;
    this.maxPauseMs = opts.maxPauseMs ?? 30_000;
  }

  received(m: Pick<Message, 'chatId' | 'seq'>): void {
    this.seqs.held(m.chatId, m.seq);
    this.check(m.chatId);
  }

  sent(chatId: string, seq: number): void {
    this.seqs.held(chatId, seq);
    this.check(chatId);
  }

  /** A (re)connect: its backlog pass is about to interleave with live deliveries. */
  connecting(): void {
    this.paused = true;
    this.clearTimers();
    // A connection that dies before its inbox.drained must not switch detection off for good.
    this.pauseTimer = setTimeout(() => this.drained(), this.maxPauseMs);
  }

  /** `inbox.drained`: everything pending at connect time has arrived; chase what is still missing. */
  drained(): void {
    this.paused = false;
    if (this.pauseTimer) clearTimeout(this.pauseTimer);
    this.pauseTimer = undefined;
    for (const chatId of this.seqs.chatsWithGaps()) this.check(chatId);
  }

  close(): void {
    this.closed = true;
    this.clearTimers();
  }

  private clearTimers(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    if (this.pauseTimer) clearTimeout(this.pauseTimer);
    this.pauseTimer = undefined;
  }

  private check(chatId: string): void {
    if (this.paused || this.closed || this.timers.has(chatId) || this.filling.has(chatId)) return;
    if (this.seqs.missing(chatId).length === 0) return;
    this.stats.gaps++;
    this.timers.set(
      chatId,
      setTimeout(() => {
        this.timers.delete(chatId);
        void this.fill(chatId);
      }, this.graceMs),
    );
  }

  private async fill(chatId: string): Promise<void> {
    if (this.paused || this.closed) return;
    this.filling.add(chatId);
    let failed = false;
    try {
      for (let round = 0; round < this.maxRounds; round++) {
        const gaps = this.seqs.missing(chatId);
        if (gaps.length === 0 || this.closed) return;
        const [from] = gaps[0]!;
        const to = gaps[gaps.length - 1]![1];
        this.stats.fetches++;
        let page: { messages: Message[]; hasMore: boolean };
        try {
          page = await this.fetch(chatId, from - 1, Math.min(100, to - from + 1));
        } catch {
          // Not now (disconnected, rate limited): the next delivery, or drained(), checks again.
          failed = true;
          return;
        }
        // Only what is missing: the page also carries seqs between the gaps, which the app already holds.
        const isMissing = (seq: number) => gaps.some(([a, b]) => seq >= a && seq <= b);
        const wanted = page.messages.filter((m) => isMissing(m.seq));
        if (wanted.length === 0) {
          // History has nothing there for this device (e.g. it was not a member then): stop chasing the range.
          this.stats.givenUp++;
          this.seqs.holdUpTo(chatId, to);
          return;
        }
        for (const m of wanted) this.seqs.held(chatId, m.seq);
        this.stats.recovered += wanted.length;
        this.onRecovered(wanted);
      }
      const left = this.seqs.missing(chatId);
      if (left.length > 0) {
        this.stats.givenUp++;
        this.seqs.holdUpTo(chatId, left.at(-1)![1]);
      }
    } finally {
      this.filling.delete(chatId);
      // Gaps opened while this fill ran get their own grace (after a failed fetch, the next delivery decides).
      if (!failed) this.check(chatId);
    }
  }
}
