// Scenarios `presence` and `receipts` (bench/README.md).
//   presence  N target devices connect and then disconnect (clean close) in waves, while W watchers, each
//             subscribed to N / W of them (so every target has one watcher), record the time from the
//             target's `session.ready` (connect) or close frame (disconnect) to the watcher's `presence`
//             event: the latency of presence churn as a subscriber sees it.
//   receipts  one sender in a group of G members sends M messages; every member acks and then reads each
//             one; the sender's device counts the receipt frames (`receipt` + `receipts`) and bytes it
//             gets per message, and the time from the last member's `message.read` reply to the sender
//             having every member's read receipt.
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
  online: LatencySummary;
  offline: LatencySummary;
  missing: number;
  wallS: number;
}

export async function runPresenceChurn(
  wsUrls: string[],
  watchers: Creds[],
  targets: Creds[],
  o: { concurrency: number; log: (s: string) => void },
): Promise<ChurnResult> {
  const started = new Map<string, { on?: number; off?: number }>();
  const onLat: number[] = [];
  const offLat: number[] = [];
  const per = Math.ceil(targets.length / watchers.length);
  const wconns: ParleyConnection[] = [];
  await mapLimit(watchers, 32, async (w, i) => {
    const c = await connect(wsUrls[i % wsUrls.length]!, w.accessToken, { recordEvents: false, requestTimeoutMs: 30_000 });
    c.on('presence', (data) => {
      const p = (data as { presence: Presence }).presence;
      const s = started.get(p.userId);
      if (!s) return;
      const now = performance.now();
      if (p.status === 'online' && s.on !== undefined) {
        onLat.push(now - s.on);
        s.on = undefined;
      } else if (p.status === 'offline' && s.off !== undefined) {
        offLat.push(now - s.off);
        s.off = undefined;
      }
    });
    const mine = targets.slice(i * per, (i + 1) * per).map((t) => t.userId);
    if (mine.length) await c.request('presence.subscribe', { userIds: mine });
    wconns.push(c);
  });
  o.log(`presence: ${watchers.length} watchers subscribed; churning ${targets.length} devices, ${o.concurrency} at a time`);
  const t0 = performance.now();
  await mapLimit(targets, o.concurrency, async (t, i) => {
    started.set(t.userId, {});
    const s = started.get(t.userId)!;
    const c = await connect(wsUrls[(i + 1) % wsUrls.length]!, t.accessToken, { recordEvents: false, requestTimeoutMs: 30_000 });
    s.on = performance.now();
    await sleep(200);
    s.off = performance.now();
    await c.close();
  });
  const wallS = (performance.now() - t0) / 1000;
  await sleep(3000);
  for (const c of wconns) await c.close().catch(() => {});
  return {
    targets: targets.length,
    watchers: watchers.length,
    online: summarize(onLat),
    offline: summarize(offLat),
    missing: 2 * targets.length - onLat.length - offLat.length,
    wallS,
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
  const chat = (await oc.request('chat.create', { type: 'group', name: 'bench receipts', members: members.map((m) => m.userId) })) as { chat: { chatId: string } };
  const chatId = chat.chat.chatId;
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
    await mapLimit(mcs, 64, (c) => c.request('message.ack', { items: [{ chatId, seq }] }));
    let lastRead = 0;
    await mapLimit(mcs, 64, async (c) => {
      await c.request('message.read', { chatId, seq });
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
