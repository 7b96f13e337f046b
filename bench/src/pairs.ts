// Scenario "1:1": sender/receiver pairs, each in its own direct chat; senders on the first gateway,
// receivers on the second. Open-loop: send i is due at start + i/rate whatever happened to earlier
// sends, and its latency is measured from that due time (no coordinated omission). End-to-end latency
// is due time → the receiver's `message.new`, on this process's clock; receivers ack in batches.
import { connect, ParleyRequestError, type Message, type ParleyConnection } from '@parley/client';

export interface Creds {
  userId: string;
  accessToken: string;
}

export interface PairCreds {
  sender: Creds;
  receiver: Creds;
}

export interface RunResult {
  offered: number;
  durationS: number;
  sent: number;
  acked: number;
  /** Acked messages that reached the receiver within the grace period. */
  delivered: number;
  errors: Record<string, number>;
  ackErrors: number;
  /** due → message.new, ms, one per delivered message. */
  e2e: number[];
  /** due → ok reply, ms, one per acked message. */
  reply: number[];
  /** CPU time of the generating process during the run (user+system, ms). */
  cpuMs: number;
  /** Largest lag of the send schedule behind its due times (ms). */
  maxScheduleLagMs: number;
}

interface Pair {
  s: ParleyConnection;
  r: ParleyConnection;
  chatId: string;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
let seqNo = 0;

export class PairLoad {
  private readonly due = new Map<string, number>(); // clientMsgId → due time (performance.now())
  private e2e: number[] = [];
  private ackQueue = new Map<ParleyConnection, { chatId: string; seq: number }[]>();
  private ackErrors = 0;
  private ackTimer: NodeJS.Timeout | undefined;

  private constructor(private readonly pairs: Pair[]) {
    for (const p of pairs) {
      p.r.on('message.new', (d) => this.onMessage(p.r, d.message));
    }
    this.ackTimer = setInterval(() => this.flushAcks(), 100);
  }

  static async setup(wsUrls: string[], creds: PairCreds[]): Promise<PairLoad> {
    const sUrl = wsUrls[0]!;
    const rUrl = wsUrls[1 % wsUrls.length]!;
    const pairs: Pair[] = [];
    const opts = { recordEvents: false, requestTimeoutMs: 10_000, timeoutMs: 30_000 };
    for (let i = 0; i < creds.length; i += 20) {
      const batch = creds.slice(i, i + 20);
      pairs.push(
        ...(await Promise.all(
          batch.map(async (c) => {
            const [s, r] = await Promise.all([connect(sUrl, c.sender.accessToken, opts), connect(rUrl, c.receiver.accessToken, opts)]);
            const { chat } = await s.request('chat.create', { type: 'direct', userId: c.receiver.userId }, { timeoutMs: 30_000 });
            return { s, r, chatId: chat.chatId };
          }),
        )),
      );
    }
    return new PairLoad(pairs);
  }

  private onMessage(r: ParleyConnection, m: Message): void {
    const t0 = this.due.get(m.clientMsgId);
    if (t0 !== undefined) {
      this.e2e.push(performance.now() - t0);
      this.due.delete(m.clientMsgId);
    }
    let q = this.ackQueue.get(r);
    if (!q) this.ackQueue.set(r, (q = []));
    q.push({ chatId: m.chatId, seq: m.seq });
  }

  private flushAcks(): void {
    for (const [conn, items] of this.ackQueue) {
      if (items.length === 0 || !conn.isOpen) continue;
      this.ackQueue.set(conn, []);
      for (let i = 0; i < items.length; i += 500) {
        conn.request('message.ack', { items: items.slice(i, i + 500) }, { timeoutMs: 30_000 }).catch(() => this.ackErrors++);
      }
    }
  }

  async run(rate: number, durationS: number, graceS: number): Promise<RunResult> {
    this.e2e = [];
    this.due.clear();
    this.ackErrors = 0;
    const errors: Record<string, number> = {};
    const reply: number[] = [];
    const total = Math.floor(rate * durationS);
    const interval = 1000 / rate;
    const cpu0 = process.cpuUsage();
    const start = performance.now() + 50;
    let sent = 0;
    let acked = 0;
    let maxLag = 0;
    const inflight = new Set<Promise<void>>();
    const ackedIds = new Set<string>();
    const tag = `${process.pid.toString(36)}-${(++seqNo).toString(36)}`;
    while (sent < total) {
      const now = performance.now();
      const dueCount = Math.min(total, Math.floor((now - start) / interval) + 1);
      while (sent < dueCount) {
        const i = sent++;
        const dueAt = start + i * interval;
        maxLag = Math.max(maxLag, now - dueAt);
        const p = this.pairs[i % this.pairs.length]!;
        const cm = `b-${tag}-${i}`;
        this.due.set(cm, dueAt);
        const pr: Promise<void> = p.s
          .request('message.send', { chatId: p.chatId, clientMsgId: cm, body: { text: `bench ${i}` } })
          .then(
            () => {
              acked++;
              ackedIds.add(cm);
              reply.push(performance.now() - dueAt);
            },
            (e: unknown) => {
              const code = e instanceof ParleyRequestError ? e.code : 'exception';
              errors[code] = (errors[code] ?? 0) + 1;
              this.due.delete(cm);
            },
          )
          .finally(() => inflight.delete(pr));
        inflight.add(pr);
      }
      const next = start + sent * interval - performance.now();
      await sleep(Math.max(0, Math.min(next, 5)));
    }
    await Promise.all([...inflight]);
    // Late deliveries of acked messages.
    const graceEnd = performance.now() + graceS * 1000;
    while (performance.now() < graceEnd && [...this.due.keys()].some((k) => ackedIds.has(k))) await sleep(50);
    const usage = process.cpuUsage(cpu0);
    return {
      offered: rate,
      durationS,
      sent,
      acked,
      delivered: this.e2e.length,
      errors,
      ackErrors: this.ackErrors,
      e2e: this.e2e,
      reply,
      cpuMs: (usage.user + usage.system) / 1000,
      maxScheduleLagMs: maxLag,
    };
  }

  async close(): Promise<void> {
    if (this.ackTimer) clearInterval(this.ackTimer);
    await Promise.all(this.pairs.flatMap((p) => [p.s.close(), p.r.close()]));
  }
}
