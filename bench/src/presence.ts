// Scenarios `presence` and `receipts` (bench/README.md).
//   presence  N target devices connect and then disconnect (clean close), churned by several processes
//             (presence-worker.ts), while W watchers, each subscribed to N / W of them (so every target has
//             one watcher), record the time from the target's `session.ready` (connect) or close call
//             (disconnect) to the watcher's `presence` event: the latency of presence churn as a
//             subscriber sees it (wall clock: the processes share one machine's clock).
//   receipts  one sender in a group of G members sends M messages; every member acks and then reads each
//             one; the sender's device counts the receipt frames (`receipt` + `receipts`) and bytes it
//             gets per message, and the time from the last member's `message.read` reply to the sender
//             having every member's read receipt.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { connect, type ParleyConnection, type Presence } from '@parley/client';
import { mapLimit } from '@parley/kit';
import { ms, summarize, type LatencySummary } from './stats.js';

export interface Creds {
  userId: string;
  accessToken: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface ChurnResult {
  targets: number;
  watchers: number;
  /** connect/disconnect cycles completed */
  cycles: number;
  workers: number;
  online: LatencySummary;
  offline: LatencySummary;
  missing: number;
  failed: number;
  errors: Record<string, number>;
  wallS: number;
  connectsPerS: number;
}

const wall = () => performance.timeOrigin + performance.now();

/**
 * Watchers in this process; the targets churned by `workers` forked processes (presence-worker.ts), each
 * with `concurrency` devices in flight. Every target has exactly one watcher.
 */
export async function runPresenceChurn(
  wsUrls: string[],
  watchers: Creds[],
  targets: Creds[],
  o: { concurrency: number; workers: number; holdMs: number; cycles: number; maxS: number; subscribers: number; log: (s: string) => void },
): Promise<ChurnResult> {
  // per target user: the arrival times of its online and offline events, in order (cycle k = the k-th pair)
  const seen = new Map<string, { on: number[]; off: number[] }>();
  const subs = Math.max(o.subscribers, watchers.length);
  const per = Math.ceil(targets.length / subs);
  const wconns: ParleyConnection[] = [];
  // `subs` subscriber connections over the watcher accounts (a device may hold several sockets)
  await mapLimit(Array.from({ length: subs }, (_, i) => i), 32, async (i) => {
    const w = watchers[i % watchers.length]!;
    const c = await connect(wsUrls[i % wsUrls.length]!, w.accessToken, { recordEvents: false, requestTimeoutMs: 30_000 });
    c.on('presence', (data) => {
      const p = (data as { presence: Presence }).presence;
      let s = seen.get(p.userId);
      if (!s) seen.set(p.userId, (s = { on: [], off: [] }));
      const now = wall();
      if (p.status === 'online' && s.on.length === s.off.length) s.on.push(now);
      else if (p.status === 'offline' && s.on.length === s.off.length + 1) s.off.push(now);
    });
    const mine = targets.slice(i * per, (i + 1) * per).map((t) => t.userId);
    for (let k = 0; mine.length; k++) {
      try {
        await c.request('presence.subscribe', { userIds: mine });
        break;
      } catch (e) {
        if ((e as { code?: string }).code !== 'unavailable' || k > 20) throw e; // a deadline on a loaded box: retry
        await sleep(500);
      }
    }
    wconns.push(c);
  });
  o.log(`presence: ${subs} subscriber connections (${watchers.length} accounts) subscribed; churning ${targets.length} devices × ${o.cycles} from ${o.workers} processes, ${o.concurrency} in flight each`);
  const script = fileURLToPath(new URL('./presence-worker.js', import.meta.url));
  const children = Array.from({ length: o.workers }, () => fork(script, [], { stdio: 'inherit', execArgv: ['--max-old-space-size=2048'] }));
  const share = Math.ceil(targets.length / o.workers);
  const t0 = wall();
  type Done = { type: 'done'; samples: [string, number, number, number][]; failed: number; errors: Record<string, number> } | { type: 'error'; message: string };
  const deadline = o.maxS > 0 ? t0 + o.maxS * 1000 : 0;
  const replies = await Promise.all(
    children.map(
      (c, k) =>
        new Promise<Done>((resolve) => {
          c.once('message', (m: Done) => resolve(m));
          c.send({ type: 'churn', wsUrls, targets: targets.slice(k * share, (k + 1) * share), offset: k + 1, concurrency: o.concurrency, holdMs: o.holdMs, cycles: o.cycles, deadline });
        }),
    ),
  );
  const wallS = (wall() - t0) / 1000;
  for (const c of children) c.kill();
  await sleep(3000); // the last offline events arrive
  for (const c of wconns) await c.close().catch(() => {});
  const onLat: number[] = [];
  const offLat: number[] = [];
  let missing = 0;
  let failed = 0;
  const errors: Record<string, number> = {};
  for (const r of replies) {
    if (r.type === 'error') throw new Error(`presence worker: ${r.message}`);
    failed += r.failed;
    for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v;
    for (const [u, cycle, on, off] of r.samples) {
      const s = seen.get(u);
      const a = s?.on[cycle];
      const b = s?.off[cycle];
      if (a !== undefined) onLat.push(a - on);
      else missing += 1;
      if (b !== undefined) offLat.push(b - off);
      else missing += 1;
    }
  }
  const done = replies.reduce((n, r) => n + (r.type === 'done' ? r.samples.length : 0), 0);
  return {
    targets: targets.length,
    watchers: subs,
    workers: o.workers,
    cycles: done,
    online: summarize(onLat),
    offline: summarize(offLat),
    missing,
    failed,
    errors,
    wallS,
    connectsPerS: done / wallS,
  };
}

export interface ReceiptsResult {
  members: number;
  messages: number;
  framesPerMessage: number;
  bytesPerMessage: number;
  receiptsPerMessage: number;
  lastReadToSender: LatencySummary;
  incomplete: number;
}

export async function runGroupReceipts(wsUrls: string[], users: Creds[], o: { messages: number; log: (s: string) => void }): Promise<ReceiptsResult> {
  const [owner, ...members] = users;
  if (!owner || !members.length) throw new Error('receipts: need at least 2 users');
  const oc = await connect(wsUrls[0]!, owner.accessToken, { recordEvents: false, requestTimeoutMs: 60_000 });
  const mcs = await mapLimit(members, 32, (m, i) => connect(wsUrls[(i + 1) % wsUrls.length]!, m.accessToken, { recordEvents: false, requestTimeoutMs: 60_000 }));
  // Built in steps of 200 members, each retried while `unavailable` (one 1,023-member create can outlast the
  // gateway's upstream deadline on a loaded box; adding members who are already in changes nothing).
  const again = async <T>(fn: () => Promise<T>): Promise<T> => {
    for (let i = 0; ; i++) {
      try {
        return await fn();
      } catch (e) {
        if ((e as { code?: string }).code !== 'unavailable' || i > 20) throw e;
        await sleep(500);
      }
    }
  };
  const ids = members.map((m) => m.userId);
  const chat = (await again(() => oc.request('chat.create', { type: 'group', name: 'bench receipts', members: ids.slice(0, 200) }))) as { chat: { chatId: string } };
  const chatId = chat.chat.chatId;
  for (let i = 200; i < ids.length; i += 200) await again(() => oc.request('chat.members.add', { chatId, userIds: ids.slice(i, i + 200) }));
  await sleep(3000); // the creation message's fan-out and receipts settle
  let frames = 0;
  let bytes = 0;
  let counting = false;
  oc.ws.on('message', (raw: Buffer) => {
    if (!counting) return;
    const text = raw.toString();
    if (text.startsWith('{"event":"receipt')) {
      frames += 1;
      bytes += raw.length;
    }
  });
  const readers = new Map<number, Set<string>>();
  const waiters = new Map<number, () => void>();
  const onReceipt = (r: { chatId: string; userId: string; status: string; upToSeq?: number }) => {
    if (r.chatId !== chatId || r.status !== 'read' || r.upToSeq === undefined) return;
    for (const [seq, set] of readers) {
      if (r.upToSeq >= seq) set.add(r.userId);
      if (set.size >= members.length) waiters.get(seq)?.();
    }
  };
  oc.on('receipt', (d) => onReceipt(d as Parameters<typeof onReceipt>[0]));
  oc.on('receipts', (d) => {
    for (const r of (d as { receipts: Parameters<typeof onReceipt>[0][] }).receipts) onReceipt(r);
  });
  const lat: number[] = [];
  let incomplete = 0;
  let receipts = 0;
  oc.on('receipts', (d) => void (counting && (receipts += (d as { receipts: unknown[] }).receipts.length)));
  oc.on('receipt', () => void (counting && (receipts += 1)));
  counting = true;
  for (let i = 0; i < o.messages; i++) {
    const { seq } = (await oc.request('message.send', { chatId, clientMsgId: `bench-rc-${i}-${Date.now()}`, body: { text: `m${i}` } })) as { seq: number };
    readers.set(seq, new Set());
    const all = new Promise<void>((r) => waiters.set(seq, r));
    await mapLimit(mcs, 64, (c) => again(() => c.request('message.ack', { items: [{ chatId, seq }] })));
    let lastRead = 0;
    await mapLimit(mcs, 64, async (c) => {
      await again(() => c.request('message.read', { chatId, seq }));
      lastRead = performance.now();
    });
    const ok = await Promise.race([all.then(() => true), sleep(30_000).then(() => false)]);
    if (ok) lat.push(performance.now() - lastRead);
    else incomplete += 1;
    readers.delete(seq);
    await sleep(1000); // the delivered/read windows of this message close
    o.log(`receipts: message ${i + 1}/${o.messages}: ${ok ? ms(lat.at(-1)!) : 'incomplete'}`);
  }
  counting = false;
  await oc.close();
  await mapLimit(mcs, 64, (c) => c.close().catch(() => undefined));
  return {
    members: users.length,
    messages: o.messages,
    framesPerMessage: frames / o.messages,
    bytesPerMessage: bytes / o.messages,
    receiptsPerMessage: receipts / o.messages,
    lastReadToSender: summarize(lat),
    incomplete,
  };
}
