// Collapse per (device, chat): at most one notification per window. The first message of a quiet chat is
// notified at once; messages arriving while the window is open are held and, when it closes, covered by ONE
// notification (the newest message, badge = messages since the streak began), which opens the next window.
// A window that closes with nothing held ends the streak (the badge starts again at 1).
//
// Each submit() resolves only once a notification covering its message has been settled, so the Kafka offset
// of a held message is committed only after the effect (a crash redelivers it and the next owner notifies).

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

export class Collapser<T extends CollapseItem> {
  private readonly streaks = new Map<string, Streak<T>>();

  constructor(
    private readonly windowMs: number,
    /** Sends one notification for `item` with `badge`; its settlement settles every message it covers. */
    private readonly deliver: (item: T, badge: number) => Promise<void>,
    private readonly onCollapsed: () => void = () => {},
  ) {}

  get size(): number {
    return this.streaks.size;
  }

  /** The newest seq a sent or in-flight notification of an open streak covers (undefined: no open streak). */
  coveredSeq(deviceId: string, chatId: string): bigint | undefined {
    return this.streaks.get(`${deviceId}\0${chatId}`)?.coveredSeq;
  }

  submit(item: T): Promise<void> {
    if (this.windowMs <= 0) return this.deliver(item, 1);
    const key = `${item.deviceId}\0${item.chatId}`;
    const s = this.streaks.get(key);
    if (!s) {
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
  }
}
