// Scenarios `presence` and `receipts` (bench/README.md).
//   presence  N target devices (one user each) connect and close cleanly on a paced schedule (connects
//             start at --presence-rate per second; each device's cycles are N / rate s apart, longer than
//             the flap grace window, so every connect and close is a transition subscribers must see),
//             churned by several processes (presence-worker.ts), while S subscriber connections, each
//             subscribed to a share of the targets (every target has F subscribers), record every
//             `presence` event; afterwards each event is matched to the transition it reports (churn.ts):
//             connect call / session.ready / close call → the subscriber's event, plus the events missing,
//             duplicated or unexpected (wall clock: the processes share one machine's clock).
//   receipts  one sender in a group of G members sends M messages; every member acks and then reads each
//             one; the sender's device counts the receipt frames (`receipt` + `receipts`) and bytes it
//             gets per message, and the time from the last member's `message.read` reply to the sender
//             having every member's read receipt.
import { fork } from 'node:child_process';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { connect, type ParleyConnection, type Presence } from '@parley/client';
import { mapLimit } from '@parley/kit';
import { churnProblem, chunks, matchUser, missing, newTally, watchedBy, type Seen, type Tally, type Transition } from './churn.js';
import { diff, snapshot, type ProcRef } from './cpu.js';
import type { Sample } from './presence-worker.js';
import { ms, summarize, type LatencySummary } from './stats.js';

const MAX_SUBSCRIBE_IDS = 500;

export interface Creds {
  userId: string;
  accessToken: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface ChurnOptions {
  /** Subscriber connections (over the watcher accounts; a device may hold several sockets). */
  subscribers: number;
  /** Subscribers watching each churning user. */
  fanout: number;
  /** Connects started per second, all workers together (the paced schedule of churn.ts); one churn per rate, in order, on the same accounts and subscribers. */
  rates: number[];
  /** Devices connected or connecting at once, per worker. */
  maxInFlight: number;
  workers: number;
  holdMs: number;
  cycles: number;
  /** No new connect after this many seconds of churn (0 = none). */
  maxS: number;
  /** The presence service's flap grace window (PRESENCE_GRACE_MS): a device's next connect waits longer than this after its close. */
  graceMs: number;
  /** Processes whose CPU time is read from /proc over the churn. */
  procs: () => ProcRef[];
  log: (s: string) => void;
}

export interface ChurnResult {
  targets: number;
  subscribers: number;
  watcherAccounts: number;
  fanout: number;
  workers: number;
  /** Connects the schedule planned, completed (connected and closed), failed, and not started (past maxS). */
  planned: number;
  completed: number;
  failed: number;
  cut: number;
  errors: Record<string, number>;
  /** Connects due more than 100 ms before a slot let them start, and the worst lateness. */
  late: number;
  maxLateMs: number;
  tally: Tally;
  /** Events that arrived in all (matched, duplicate and unexpected). */
  received: number;
  online: LatencySummary;
  onlineReady: LatencySummary;
  offline: LatencySummary;
  /** First connect call → last close call. */
  churnS: number;
  connectsPerS: number;
  transitionsPerS: number;
  offeredRate: number;
  subscribeS: number;
  /** CPU seconds per process over the churn (and its drain), the generator's processes included. */
  cpu: Map<string, number>;
  windowS: number;
  loadavg: { min: number; max: number; samples: number[] };
  /** Duplicate / unexpected events by kind, status and the user's last action before them: time since that action. */
  anomalies: Map<string, LatencySummary & { min: number }>;
}

const wall = () => performance.timeOrigin + performance.now();

/**
 * `o.subscribers` subscriber connections in this process, each subscribed (≤ 500 ids per request) to the
 * users churn.ts `watchedBy` gives it, so every target has `o.fanout` subscribers; the targets are churned by
 * `o.workers` forked processes (presence-worker.ts) on the paced schedule. Every event each subscriber
 * receives is kept and matched afterwards against the transitions (churn.ts `matchUser`).
 */
export async function runPresenceChurn(wsUrls: string[], watchers: Creds[], targets: Creds[], o: ChurnOptions): Promise<ChurnResult[]> {
  const n = targets.length;
  const subs = o.subscribers;
  const fanout = Math.min(o.fanout, subs);
  for (const rate of o.rates) {
    const problem = churnProblem({ n, rate, holdMs: o.holdMs, graceMs: o.graceMs, cycles: o.cycles });
    if (problem) throw new Error(`presence: ${problem}`);
  }
  const index = new Map(targets.map((t, i) => [t.userId, i]));
  // per subscriber: the users it watches, and per watched user the events in arrival order
  const watched: Set<number>[] = [];
  let seen: Map<number, Seen[]>[] = Array.from({ length: subs }, () => new Map());
  let received = 0;
  let stray = 0; // events for users a subscriber does not watch
  const wconns: ParleyConnection[] = [];
  const tSub = wall();
  await mapLimit(Array.from({ length: subs }, (_, s) => s), 32, async (s) => {
    const w = watchers[s % watchers.length]!;
    const mine = watchedBy(s, subs, n, fanout);
    watched[s] = new Set(mine);
    const c = await connect(wsUrls[s % wsUrls.length]!, w.accessToken, { recordEvents: false, requestTimeoutMs: 30_000, timeoutMs: 60_000 });
    c.on('presence', (data) => {
      const at = wall();
      received += 1;
      const p = (data as { presence: Presence }).presence;
      const i = index.get(p.userId);
      if (i === undefined || !watched[s]!.has(i)) return void (stray += 1);
      let list = seen[s]!.get(i);
      if (!list) seen[s]!.set(i, (list = []));
      list.push({ status: p.status, at });
    });
    for (const ids of chunks(mine.map((i) => targets[i]!.userId), MAX_SUBSCRIBE_IDS)) {
      for (let k = 0; ; k++) {
        try {
          await c.request('presence.subscribe', { userIds: ids });
          break;
        } catch (e) {
          if ((e as { code?: string }).code !== 'unavailable' || k > 20) throw e; // a deadline on a loaded box: retry
          await sleep(500);
        }
      }
    }
    wconns.push(c);
  });
  const subscribeS = (wall() - tSub) / 1000;
  const ids = targets.map((_, i) => i);
  const expectedPerCycle = n * 2 * fanout;
  o.log(`presence: ${subs} subscriber connections (${watchers.length} accounts) subscribed in ${subscribeS.toFixed(1)} s; ${expectedPerCycle} events expected per churn cycle`);
  const results: ChurnResult[] = [];
  for (const rate of o.rates) {
    seen = Array.from({ length: subs }, () => new Map());
    received = 0;
    stray = 0;
    o.log(`presence: churning ${n} devices × ${o.cycles} at ${rate} connects/s from ${o.workers} processes (≤ ${o.maxInFlight} in flight each)`);
    const script = fileURLToPath(new URL('./presence-worker.js', import.meta.url));
    const children = Array.from({ length: o.workers }, () => fork(script, [], { stdio: 'inherit', execArgv: ['--max-old-space-size=2048'] }));
    const procsNow = [...o.procs(), ...children.flatMap((c, k) => (c.pid ? [{ name: `load: churn worker ${k}`, pid: c.pid }] : []))];
    const cpu0 = snapshot(procsNow);
    const main0 = process.cpuUsage();
    const w0 = wall();
    const load: number[] = [];
    const loadTimer = setInterval(() => load.push(loadavg()[0]!), 5000);
    const t0 = wall() + 3000; // the workers start meanwhile
    type Done =
      | { type: 'done'; samples: Sample[]; failed: number; errors: Record<string, number>; late: number; maxLateMs: number; cut: number; cpuMs: number }
      | { type: 'error'; message: string };
    const deadline = o.maxS > 0 ? t0 + o.maxS * 1000 : 0;
    const replies = await Promise.all(
      children.map(
        (c, k) =>
          new Promise<Done>((resolve) => {
            c.once('message', (m: Done) => resolve(m));
            c.once('exit', (code) => resolve({ type: 'error', message: `exited with ${code}` }));
            c.send({
              type: 'churn',
              wsUrls,
              targets: ids.filter((i) => i % o.workers === k).map((i) => [i, targets[i]!]),
              n,
              rate,
              t0,
              maxInFlight: o.maxInFlight,
              holdMs: o.holdMs,
              cycles: o.cycles,
              gapMs: o.graceMs + 500,
              deadline,
            });
          }),
      ),
    );
    for (const r of replies) if (r.type === 'error') throw new Error(`presence worker: ${r.message}`);
    const done = replies as Extract<Done, { type: 'done' }>[];
    // per user: its transitions in order
    const byUser = new Map<number, Transition[]>();
    let first = Infinity;
    let lastClose = 0;
    for (const r of done)
      for (const [i, , on, ready, off] of [...r.samples].sort((a, b) => a[1] - b[1])) {
        let list = byUser.get(i);
        if (!list) byUser.set(i, (list = []));
        list.push({ status: 'online', at: on, ready }, { status: 'offline', at: off });
        first = Math.min(first, on);
        lastClose = Math.max(lastClose, off);
      }
    const completed = done.reduce((a, r) => a + r.samples.length, 0);
    // drain: wait for the events still owed (bounded)
    const expected = completed * 2 * fanout;
    // drain: until as many events as expected arrived and none came for 3 s (duplicates count too), at most 20 s
    const drainUntil = wall() + 20_000;
    let lastCount = -1;
    let quietSince = wall();
    while (wall() < drainUntil) {
      if (received !== lastCount) {
        lastCount = received;
        quietSince = wall();
      }
      if (received - stray >= expected && wall() - quietSince >= 3000) break;
      await sleep(250);
    }
    clearInterval(loadTimer);
    const windowS = (wall() - w0) / 1000;
    const cpu = diff(cpu0, snapshot(procsNow));
    const mainCpu = process.cpuUsage(main0);
    cpu.set('load: subscribers (main bench process)', (mainCpu.user + mainCpu.system) / 1000);
    for (const [k, r] of done.entries()) cpu.set(`load: churn worker ${k}`, r.cpuMs);
    for (const c of children) c.kill();

    const tally = newTally();
    const anomalies = new Map<string, number[]>();
    tally.unexpected += stray;
    for (let s = 0; s < subs; s++)
      for (const i of watched[s]!)
      matchUser(byUser.get(i) ?? [], seen[s]!.get(i) ?? [], tally, (kind, e, before) => {
        const k = `${kind} ${e.status} (last action: ${before ? (before.status === 'online' ? 'connect' : 'close') : 'none'})`;
        let l = anomalies.get(k);
        if (!l) anomalies.set(k, (l = []));
        l.push(before ? e.at - before.at : NaN);
      });
    // events for watched users that made no transition at all (a failed connect that the service saw)
    const churnS = (lastClose - first) / 1000;
    const r: ChurnResult = {
      targets: n,
      subscribers: subs,
      watcherAccounts: watchers.length,
      fanout,
      workers: o.workers,
      planned: n * o.cycles,
      completed,
      failed: done.reduce((a, r) => a + r.failed, 0),
      cut: done.reduce((a, r) => a + r.cut, 0),
      errors: done.reduce((e, r) => {
        for (const [k, v] of Object.entries(r.errors)) e[k] = (e[k] ?? 0) + v;
        return e;
      }, {} as Record<string, number>),
      late: done.reduce((a, r) => a + r.late, 0),
      maxLateMs: Math.max(0, ...done.map((r) => r.maxLateMs)),
      tally,
      received,
      online: summarize(tally.online),
      onlineReady: summarize(tally.onlineReady),
      offline: summarize(tally.offline),
      churnS,
      connectsPerS: churnS > 0 ? completed / churnS : 0,
      transitionsPerS: churnS > 0 ? (2 * completed) / churnS : 0,
      offeredRate: rate,
      subscribeS,
      cpu,
      windowS,
      loadavg: { min: load.length ? Math.min(...load) : NaN, max: load.length ? Math.max(...load) : NaN, samples: load },
    anomalies: new Map(
      [...anomalies].map(([k, v]) => {
        const f = v.filter((x) => Number.isFinite(x));
        return [k, { ...summarize(f), count: v.length, min: f.length ? Math.min(...f) : NaN }];
      }),
    ),
    };
    results.push(r);
    o.log(`presence: ${rate}/s: ${r.completed} cycles in ${r.churnS.toFixed(1)} s; online p50 ${ms(r.online.p50)} p99 ${ms(r.online.p99)}, offline p50 ${ms(r.offline.p50)} p99 ${ms(r.offline.p99)}; missing ${missing(tally)}, duplicate ${tally.duplicate}, unexpected ${tally.unexpected}`);
    if (rate !== o.rates[o.rates.length - 1]) await sleep(5000);
  }
  await mapLimit(wconns, 64, (c) => c.close().catch(() => undefined));
  return results;
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
