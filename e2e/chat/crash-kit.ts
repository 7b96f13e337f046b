// The crash tests' kit (crash.test.ts, takeover.test.ts; design.md "Tests"; protocol.md §8.1–§8.4): a world of
// devices on both gateways streaming sends (clients behave like apps: they retry a failed send with the SAME
// clientMsgId, reconnect with backoff to any gateway, and ack what they receive), and the proof, after a fault,
// that:
//   - every send acked with ok:true reached every member device (except the sending device), proven by
//     what the devices RECEIVED (live + backlog on reconnect), deduped by (chatId, seq);
//   - each device holds a gap-free run of seqs per chat (with its own sends), and every backlog pass is in
//     per-chat seq order;
//   - the log has no duplicates: each clientMsgId once in history, at the seq its ack named.
import type { Message } from '@parley/client';
import { clientMsgId, Device, fullHistory, newUsers, sleep, text, type Mesh, type User } from './helpers.js';
import { ResilientDevice, type Acked } from './resilient.js';

export interface World {
  users: User[];
  devices: ResilientDevice[];
  chats: { chatId: string; members: string[] }[];
}

export async function world(mesh: Mesh, label: string): Promise<World> {
  const users = await newUsers(mesh, 6, label);
  const devices: ResilientDevice[] = [];
  for (const [i, u] of users.entries()) {
    for (let k = 0; k < 2; k++) {
      const d = new ResilientDevice(new Device(mesh, u, `${u.username}-${k}`), mesh.wsUrls.length, (i + k) % 2);
      await d.start();
      d.autoAck(250);
      devices.push(d);
    }
  }
  const creator = devices[0]!.dev.c;
  // As an app would: an `unavailable` answer (a shard changing hands, a slow upstream) is retried.
  const create = async (c: typeof creator, req: object) => {
    for (let attempt = 1; ; attempt++) {
      try {
        return (await c.request('chat.create', req as never)).chat;
      } catch (err) {
        if ((err as { code?: string }).code !== 'unavailable' || attempt >= 8) throw err;
        await sleep(500 * attempt);
      }
    }
  };
  const group = await create(creator, { type: 'group', name: `crash ${label}`, members: users.slice(1).map((u) => u.userId) });
  const d1 = await create(creator, { type: 'direct', userId: users[1]!.userId });
  const d2 = await create(devices[4]!.dev.c, { type: 'direct', userId: users[3]!.userId });
  return {
    users,
    devices,
    chats: [group, d1, d2].map((c) => ({ chatId: c.chatId, members: c.members.map((m) => m.userId) })),
  };
}

/** Senders: the first device of users 0..3, each sending to the chats it is in, one send at a time. */
export async function stream(w: World, stopAt: () => boolean): Promise<{ acked: Acked[]; attempted: number }> {
  const acked: Acked[] = [];
  let attempted = 0;
  const senders = [0, 2, 4, 6].map((i) => w.devices[i]!);
  await Promise.all(
    senders.map(async (s, si) => {
      const mine = w.chats.filter((c) => c.members.includes(s.dev.userId));
      for (let i = 0; !stopAt(); i++) {
        const chat = mine[i % mine.length]!;
        const cm = clientMsgId(`s${si}-${i}`);
        attempted++;
        // Once started, a send is pursued to its ack (a real client keeps it in its outbox).
        acked.push(await s.sendUntilAcked(chat.chatId, cm, text(`${s.dev.name} #${i}`), Date.now() + 120_000));
        await sleep(20);
      }
    }),
  );
  return { acked, attempted };
}

/**
 * Wait until live delivery is quiet (no event on any device for 2 s: the fan-out has caught up), then
 * disconnect every device, reconnect it and wait for inbox.drained: the final backlog pass, which then
 * carries no interleaved live traffic. Returns how long the fan-out took to go quiet after the last ack.
 */
export async function finalDrain(w: World, lastAckAt: number, acked: Acked[]): Promise<number> {
  const t0 = Date.now();
  // "Quiet" must mean the fan-out caught up, not that it is stalled: after a SIGKILL of the message service
  // its partitions are reassigned only when the dead member's Kafka session expires (~15 s), and everything
  // since its last committed offset is then routed (and re-routed) live. So first wait until every device
  // holds every acked message live (up to 60 s; whatever is still missing then must come from the backlog),
  // then for 2 s without events; only then is the final backlog pass free of live traffic.
  const caughtUp = () =>
    w.devices.every((d) =>
      w.chats.every((c) => !c.members.includes(d.dev.userId) || acked.every((a) => a.chatId !== c.chatId || a.deviceId === d.deviceId || d.dev.has(c.chatId, a.seq))),
    );
  while (!caughtUp() && Date.now() - t0 < 60_000) await sleep(200);
  while (Date.now() - Math.max(...w.devices.map((d) => d.dev.lastEventAt)) < 2000 && Date.now() - t0 < 120_000) await sleep(200);
  const quietAfterMs = Math.max(...w.devices.map((d) => d.dev.lastEventAt)) - lastAckAt;
  for (const d of w.devices) await d.stop();
  await Promise.all(
    w.devices.map(async (d, i) => {
      await d.dev.connect(i % 2);
      await d.dev.waitDrained(90_000);
    }),
  );
  return quietAfterMs;
}

export async function verify(w: World, acked: Acked[]): Promise<void> {
  // The log: each acked message exactly where its ack said, each clientMsgId once, seqs 1..last.
  const histories = new Map<string, Message[]>();
  for (const c of w.chats) {
    const member = w.devices.find((d) => c.members.includes(d.dev.userId))!;
    const h = await fullHistory(member.dev.c, c.chatId);
    histories.set(c.chatId, h);
    expect(h.map((m) => m.seq)).toEqual(Array.from({ length: h.length }, (_, i) => i + 1));
    const cms = h.filter((m) => m.kind === 'user').map((m) => `${m.sender.userId}|${m.clientMsgId}`);
    expect(cms.length - new Set(cms).size).toBe(0);
  }
  for (const a of acked) {
    const m = histories.get(a.chatId)!.find((x) => x.seq === a.seq);
    expect(m?.clientMsgId).toBe(a.clientMsgId);
    expect(m?.messageId).toBe(a.messageId);
  }
  // Every user message in the log was acked to its sender (senders retried until acked), and no acked
  // message was acked twice at different seqs.
  const ackedKeys = new Set(acked.map((a) => `${a.chatId}#${a.seq}`));
  expect(ackedKeys.size).toBe(acked.length);
  for (const [chatId, h] of histories) {
    for (const m of h) if (m.kind === 'user') expect(ackedKeys.has(`${chatId}#${m.seq}`)).toBe(true);
  }

  // Delivery: every acked message reached every member device but its sender's, as received frames.
  const missing: string[] = [];
  for (const d of w.devices) {
    for (const c of w.chats) {
      if (!c.members.includes(d.dev.userId)) continue;
      for (const a of acked) {
        if (a.chatId !== c.chatId || a.deviceId === d.deviceId) continue;
        if (!d.dev.has(c.chatId, a.seq)) missing.push(`${d.dev.name} lacks ${c.chatId}#${a.seq}`);
      }
      // Gap-free: what it received plus what it sent itself is 1..last.
      const h = histories.get(c.chatId)!;
      const held = new Set(d.dev.seqs(c.chatId));
      for (const m of h) if (m.sender.deviceId === d.deviceId) held.add(m.seq);
      const gaps = h.map((m) => m.seq).filter((s) => !held.has(s));
      if (gaps.length) missing.push(`${d.dev.name} has gaps in ${c.chatId}: ${gaps.slice(0, 10).join(',')}`);
      // It never received its own sends.
      for (const m of h) if (m.sender.deviceId === d.deviceId && d.dev.has(c.chatId, m.seq) && m.kind === 'user') missing.push(`${d.dev.name} got its own ${c.chatId}#${m.seq}`);
      // The final backlog pass (no live traffic then: the stream had stopped) is in per-chat seq order.
      // (Earlier passes interleave with live deliveries, which carry no order promise across senders.)
      const evs = d.dev.eventsOf(d.dev.connectionNumber);
      const end = evs.findIndex((e) => e.event === 'inbox.drained');
      const pass = evs
        .slice(0, end)
        .filter((e) => e.event === 'message.new')
        .map((e) => (e.data as { message: Message }).message)
        .filter((m) => m.chatId === c.chatId)
        .map((m) => m.seq);
      const sorted = [...pass].sort((x, y) => x - y);
      if (end < 0 || pass.join(',') !== sorted.join(',') || new Set(pass).size !== pass.length) {
        missing.push(`${d.dev.name}: final backlog of ${c.chatId} not one ascending pass: ${pass.join(',')}`);
      }
    }
  }
  expect(missing).toEqual([]);
}

export function summary(label: string, w: World, acked: Acked[], attempted: number, quietAfterMs: number): void {
  // Live lag: ack reply → first receipt, over every (device, acked message of another device) pair.
  const lags: number[] = [];
  for (const d of w.devices) {
    for (const a of acked) {
      if (a.deviceId === d.deviceId) continue;
      const at = d.dev.firstAt.get(`${a.chatId}#${a.seq}`);
      if (at !== undefined) lags.push(at - a.ackedAt);
    }
  }
  lags.sort((x, y) => x - y);
  const pct = (p: number) => lags[Math.min(lags.length - 1, Math.floor((p / 100) * lags.length))] ?? NaN;
  const errors = new Map<string, number>();
  for (const d of w.devices) for (const [k, v] of d.errors) errors.set(k, (errors.get(k) ?? 0) + v);
  const dupDeliveries = w.devices.reduce((n, d) => n + [...d.dev.deliveries.values()].filter((v) => v > 1).length, 0);
  console.log(
    `[crash ${label}] attempted ${attempted}, acked ${acked.length}, retried sends ${acked.filter((a) => a.attempts > 1).length}, ` +
      `duplicate replies ${acked.filter((a) => a.duplicate).length}, reconnects ${w.devices.reduce((n, d) => n + d.reconnects, 0)}, ` +
      `client errors ${JSON.stringify(Object.fromEntries(errors))}, (chatId,seq) delivered more than once ${dupDeliveries}, ` +
      `ack→first receipt p50 ${pct(50)} ms p99 ${pct(99)} ms max ${pct(100)} ms, live delivery quiet ${quietAfterMs} ms after the last ack`,
  );
}
