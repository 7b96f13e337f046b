// Scenario "group": one sender in a group of N members (all connected, spread over the gateways);
// per-recipient fan-out latency = send → that member's `message.new`, on this process's clock.
import { connect, type ParleyConnection } from '@parley/client';
import type { Creds } from './pairs.js';

export interface GroupResult {
  members: number;
  messages: number;
  acked: number;
  /** Expected deliveries: messages × (members − 1). */
  expected: number;
  delivered: number;
  /** send → each recipient's message.new, ms. */
  perRecipient: number[];
  /** send → the last recipient's message.new, ms, per message. */
  lastRecipient: number[];
  /** send → ok reply, ms. */
  reply: number[];
  errors: Record<string, number>;
  setupS: number;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function runGroup(
  wsUrls: string[],
  members: Creds[],
  opts: {
    messages: number;
    intervalMs: number;
    graceS: number;
    noAck?: boolean;
    /** 0 (default): each member acks 100 ms after its first unacked message, as web/src/app/store.ts does; N: all members at once every N ms. */
    ackIntervalMs?: number;
    /** Called when the measured phase starts and ends (the CPU and histogram snapshots of the run). */
    onMeasure?: (phase: 'start' | 'end') => Promise<void>;
    log: (s: string) => void;
  },
): Promise<GroupResult> {
  const t0 = performance.now();
  const conns: ParleyConnection[] = new Array(members.length);
  for (let i = 0; i < members.length; i += 32) {
    await Promise.all(
      members.slice(i, i + 32).map(async (m, k) => {
        conns[i + k] = await connect(wsUrls[(i + k) % wsUrls.length]!, m.accessToken, { recordEvents: false, requestTimeoutMs: 60_000, timeoutMs: 60_000 });
      }),
    );
  }
  opts.log(`group: ${members.length} members connected`);
  const sender = conns[0]!;
  const { chat } = await sender.request('chat.create', { type: 'group', name: 'bench', members: members.slice(1).map((m) => m.userId) }, { timeoutMs: 120_000 });
  opts.log(`group: created with ${chat.members.length} members`);

  const sentAt = new Map<string, number>();
  const lastAt = new Map<string, number>();
  const got = new Map<string, Set<number>>(); // clientMsgId → recipients that got it
  const perRecipient: number[] = [];
  const acks = new Map<ParleyConnection, { chatId: string; seq: number }[]>();
  const ackEvery = opts.ackIntervalMs ?? 0;
  const flushAcks = (c: ParleyConnection) => {
    const q = acks.get(c);
    if (!q || q.length === 0) return;
    acks.set(c, []);
    c.request('message.ack', { items: q.slice(0, 500) }).catch(() => undefined);
  };
  const ackTimers = new Map<ParleyConnection, NodeJS.Timeout>();
  conns.forEach((c, i) => {
    if (i === 0) return;
    c.on('message.new', ({ message: m }) => {
      if (!opts.noAck) {
        let q = acks.get(c);
        if (!q) acks.set(c, (q = []));
        q.push({ chatId: m.chatId, seq: m.seq });
        if (ackEvery === 0 && !ackTimers.has(c)) {
          ackTimers.set(
            c,
            setTimeout(() => {
              ackTimers.delete(c);
              flushAcks(c);
            }, 100),
          );
        }
      }
      const s = sentAt.get(m.clientMsgId);
      if (s === undefined) return;
      let who = got.get(m.clientMsgId);
      if (!who) got.set(m.clientMsgId, (who = new Set()));
      if (who.has(i)) return; // a duplicate delivery (at-least-once): count the first only
      who.add(i);
      const now = performance.now();
      perRecipient.push(now - s);
      lastAt.set(m.clientMsgId, now);
    });
  });
  const ackTimer = ackEvery > 0 ? setInterval(() => acks.forEach((_, c) => flushAcks(c)), ackEvery) : undefined;
  // Let the creation's own fan-out settle before measuring.
  await sleep(3000);
  const setupS = (performance.now() - t0) / 1000;

  const errors: Record<string, number> = {};
  const reply: number[] = [];
  let acked = 0;
  const pending: Promise<void>[] = [];
  await opts.onMeasure?.('start');
  const base = performance.now();
  for (let i = 0; i < opts.messages; i++) {
    const due = base + i * opts.intervalMs;
    await sleep(Math.max(0, due - performance.now()));
    const cm = `g-${process.pid}-${Date.now().toString(36)}-${i}`;
    const t = performance.now();
    sentAt.set(cm, t);
    pending.push(
      sender.request('message.send', { chatId: chat.chatId, clientMsgId: cm, body: { text: `fan-out ${i}` } }, { timeoutMs: 30_000 }).then(
        () => {
          acked++;
          reply.push(performance.now() - t);
        },
        (e: { code?: string }) => {
          errors[e.code ?? 'exception'] = (errors[e.code ?? 'exception'] ?? 0) + 1;
        },
      ),
    );
  }
  await Promise.all(pending);
  const expectedEach = members.length - 1;
  const end = performance.now() + opts.graceS * 1000;
  while (performance.now() < end && [...sentAt.keys()].some((k) => (got.get(k)?.size ?? 0) < expectedEach)) await sleep(100);
  clearInterval(ackTimer);
  await sleep(200); // the last acks (100 ms after receipt) reach the mesh inside the measured phase
  await opts.onMeasure?.('end');
  for (const t of ackTimers.values()) clearTimeout(t);
  const lastRecipient = [...sentAt.entries()].filter(([k]) => (got.get(k)?.size ?? 0) === expectedEach).map(([k, s]) => lastAt.get(k)! - s);
  await Promise.all(conns.map((c) => c.close()));
  return {
    members: members.length,
    messages: opts.messages,
    acked,
    expected: opts.messages * expectedEach,
    delivered: perRecipient.length,
    perRecipient,
    lastRecipient,
    reply,
    errors,
    setupS,
  };
}
