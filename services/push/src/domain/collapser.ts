// Collapse per (device, chat): at most one notification per window. The first message of a quiet chat is
// notified at once; messages arriving while the window is open are held and, when it closes, covered by ONE
// notification (the newest message, badge = messages since the streak began), which opens the next window.
// A window that closes with nothing held ends the streak (the badge starts again at 1).
//
// Each submit() resolves only once a notification covering its message has been settled, so the Kafka offset
// of a held message is committed only after the effect (a crash redelivers it and the next owner notifies).
//
// After a streak ends, the newest seq it covered is remembered for a while (10 min, at most 100,000 chats per
// process), so a push request delivered twice (a rebalance or a fan-out retry redelivering messages after
// their streak ended) is not notified again.

export interface CollapseItem {
  deviceId: string;
  chatId: string;
  seq: bigint;
}

interface Streak<T> {
  badge: number;
  /** Newest seq covered by a settled or in-flight notification. */
  coveredSeq: bigint;
  held?: T;
  waiters: Array<{ resolve: () => void; reject: (e: unknown) => void }>;
  timer?: ReturnType<typeof setTimeout>;
}

export interface CollapserOptions {
  onCollapsed?: () => void;
  /** A request for a seq already covered by an ended streak (a redelivery): not notified again. */
  onDuplicate?: () => void;
  memoryMs?: number;
  memoryMax?: number;
  now?: () => number;
}

export class Collapser<T extends CollapseItem> {
  private readonly streaks = new Map<string, Streak<T>>();
  /** key → newest seq covered by an ended streak; insertion order = expiry order. */
  private readonly recent = new Map<string, { seq: bigint; until: number }>();
  private readonly onCollapsed: () => void;

  constructor(
    private readonly windowMs: number,
    /** Sends one notification for `item` with `badge`; its settlement settles every message it covers. */
    private readonly deliver: (item: T, badge: number) => Promise<void>,
    private readonly o: CollapserOptions = {},
  ) {
    this.onCollapsed = o.onCollapsed ?? (() => {});
  }

  private now(): number {
    return (this.o.now ?? Date.now)();
  }

  private remembered(key: string): bigint | undefined {
    const r = this.recent.get(key);
    if (!r) return undefined;
    if (r.until < this.now()) {
      this.recent.delete(key);
      return undefined;
    }
    return r.seq;
  }

  private remember(key: string, seq: bigint): void {
    const had = this.remembered(key);
    if (had !== undefined && had >= seq) return;
    this.recent.delete(key);
    this.recent.set(key, { seq, until: this.now() + (this.o.memoryMs ?? 10 * 60_000) });
    const max = this.o.memoryMax ?? 100_000;
    const now = this.now();
    for (const [k, v] of this.recent) {
      if (this.recent.size <= max && v.until >= now) break;
      this.recent.delete(k);
    }
  }

  private duplicate(key: string, seq: bigint): boolean {
    const r = this.remembered(key);
    if (r === undefined || seq > r) return false;
    this.o.onDuplicate?.();
    return true;
  }

  get size(): number {
    return this.streaks.size;
  }

  /** The newest seq a sent or in-flight notification covers (open streak, or remembered after it ended). */
  coveredSeq(deviceId: string, chatId: string): bigint | undefined {
    const key = `${deviceId}\0${chatId}`;
    return this.streaks.get(key)?.coveredSeq ?? this.remembered(key);
  }

  submit(item: T): Promise<void> {
    const key = `${item.deviceId}\0${item.chatId}`;
    if (this.windowMs <= 0) {
      if (this.duplicate(key, item.seq)) return Promise.resolve();
      this.remember(key, item.seq);
      return this.deliver(item, 1);
    }
    const s = this.streaks.get(key);
    if (!s) {
      if (this.duplicate(key, item.seq)) return Promise.resolve();
      const streak: Streak<T> = { badge: 1, coveredSeq: item.seq, waiters: [] };
      this.streaks.set(key, streak);
      this.arm(key, streak);
      return this.deliver(item, 1);
    }
    // A redelivered message already covered (consumer restart, rebalance): nothing more to send.
    if (item.seq <= s.coveredSeq && s.held === undefined) return Promise.resolve();
    if (s.held !== undefined && item.seq <= s.held.seq) {
      // Older than what is held: covered by the held notification.
      return new Promise((resolve, reject) => s.waiters.push({ resolve, reject }));
    }
    if (item.seq > s.coveredSeq) s.badge += 1;
    if (s.held === undefined || item.seq > s.held.seq) s.held = item;
    this.onCollapsed();
    return new Promise((resolve, reject) => s.waiters.push({ resolve, reject }));
  }

  private arm(key: string, s: Streak<T>): void {
    s.timer = setTimeout(() => this.close(key, s), this.windowMs);
    s.timer.unref?.();
  }

  private close(key: string, s: Streak<T>): void {
    const held = s.held;
    if (held === undefined) {
      this.streaks.delete(key);
      this.remember(key, s.coveredSeq);
      return;
    }
    const waiters = s.waiters;
    s.held = undefined;
    s.waiters = [];
    if (held.seq > s.coveredSeq) s.coveredSeq = held.seq;
    this.arm(key, s);
    this.deliver(held, s.badge).then(
      () => waiters.forEach((w) => w.resolve()),
      (err: unknown) => waiters.forEach((w) => w.reject(err)),
    );
  }

  /** Drops every timer (shutdown); held messages stay uncommitted and are redelivered to the next owner. */
  clear(): void {
    for (const s of this.streaks.values()) if (s.timer) clearTimeout(s.timer);
    this.streaks.clear();
    this.recent.clear();
  }
}
