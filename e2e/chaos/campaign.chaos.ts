// The fault campaign (issue 15, "Fault campaign on record"): `./parley chaos`. Not part of `./parley test`
// (it restarts Kafka, Redis and Cassandra, so it runs them privately: its own run directory and ports, never
// the shared servers). Under a steady 1:1 load (pairs of users, one device each, on different gateways,
// sending with app-like clients: same clientMsgId until acked, reconnect with backoff to any gateway, ack what
// arrives), it kills -9 each of the eight processes once and restarts it, restarts Redis, Kafka and Cassandra
// once each, and pauses a gateway (SIGSTOP) past its heartbeat. At the end every device reconnects once for a
// final backlog pass, and it counts per device: messages its peer had acked vs delivered to it, duplicates
// after client dedupe (a clientMsgId stored twice), and gaps. The table goes to .run/chaos/result.md (and, by
// hand, to docs/operations.md). Loopback only; bounded (~10 min on 2 vCPU).
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Message } from '@parley/client';
import { repoRoot } from '@parley/testing';
import { Device, chatMesh, clientMsgId, fullHistory, newUsers, sleep, text, type Mesh, type User } from '../chat/helpers.js';
import { ResilientDevice, type Acked } from '../chat/resilient.js';

const ROOT = repoRoot();
const OUT = join(ROOT, '.run', 'chaos');
// Private servers: their own run directory and ports (the shared ones on 6390/9192/9142/9100 are untouched).
const PRIVATE: Record<string, string> = {
  PARLEY_RUN_DIR: OUT,
  PARLEY_REDIS_PORT: process.env.CHAOS_REDIS_PORT ?? '16390',
  PARLEY_KAFKA_PORT: '19192',
  PARLEY_KAFKA_CONTROLLER_PORT: '19193',
  PARLEY_CASSANDRA_PORT: '19142',
  PARLEY_CASSANDRA_STORAGE_PORT: '17100',
  PARLEY_CASSANDRA_JMX_PORT: '17299',
  PARLEY_CASSANDRA_HEAP: '768M',
  PARLEY_MINIO_PORT: '19100',
  PARLEY_MINIO_CONSOLE_PORT: '19101',
};
const HEARTBEAT_MS = 2000;
const PAIRS = Number(process.env.CHAOS_PAIRS ?? 4);
const SEND_EVERY_MS = 250;

const infra = (...args: string[]): string =>
  execFileSync(join(ROOT, 'infra', 'parley-infra'), args, { env: { ...process.env, ...PRIVATE }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });

let mesh: Mesh;
const timeline: { at: number; what: string; tookMs: number }[] = [];
let t0 = 0;

beforeAll(async () => {
  mkdirSync(OUT, { recursive: true });
  infra('start');
  for (const line of infra('env').split('\n')) {
    const m = /^export ([A-Z_]+)=(.*)$/.exec(line.trim());
    if (m) process.env[m[1]!] = m[2]!.replace(/^'(.*)'$/, '$1').replace(/^"(.*)"$/, '$1');
  }
  mesh = await chatMesh({
    GATEWAY_UPSTREAM_DEADLINE_MS: '3000',
    GATEWAY_HEARTBEAT_INTERVAL_MS: String(HEARTBEAT_MS),
    PARLEY_LOG_LEVEL: 'warn',
  });
}, 900_000);

afterAll(async () => {
  await mesh?.stop();
  if (process.env.CHAOS_KEEP_SERVERS !== '1') infra('stop');
}, 300_000);

async function step(what: string, fn: () => Promise<void>): Promise<void> {
  const at = Date.now();
  await fn();
  timeline.push({ at: at - t0, what, tookMs: Date.now() - at });
  console.log(`[chaos] +${((at - t0) / 1000).toFixed(1)}s ${what} (${Date.now() - at} ms)`);
}

interface Pair {
  chatId: string;
  a: ResilientDevice;
  b: ResilientDevice;
}

test('fault campaign under steady 1:1 load: 0 lost, 0 duplicates after dedupe, 0 gaps', async () => {
  const users: User[] = await newUsers(mesh, 2 * PAIRS, 'chaos');
  const pairs: Pair[] = [];
  for (let i = 0; i < PAIRS; i++) {
    const a = new ResilientDevice(new Device(mesh, users[2 * i]!, `p${i}a`), mesh.wsUrls.length, 0);
    const b = new ResilientDevice(new Device(mesh, users[2 * i + 1]!, `p${i}b`), mesh.wsUrls.length, 1);
    await a.start();
    await b.start();
    a.autoAck(250);
    b.autoAck(250);
    const chatId = (await a.dev.c.request('chat.create', { type: 'direct', userId: users[2 * i + 1]!.userId })).chat.chatId;
    pairs.push({ chatId, a, b });
  }
  const devices = pairs.flatMap((p) => [p.a, p.b]);

  // Steady load: every device sends to its peer every SEND_EVERY_MS, each send pursued until acked.
  let stop = false;
  const acked: Acked[] = [];
  let attempted = 0;
  t0 = Date.now();
  const load = Promise.all(
    pairs.flatMap((p) =>
      [p.a, p.b].map(async (s) => {
        for (let i = 0; !stop; i++) {
          attempted++;
          acked.push(await s.sendUntilAcked(p.chatId, clientMsgId(`${s.dev.name}-${i}`), text(`${s.dev.name} #${i}`), Date.now() + 400_000));
          await sleep(SEND_EVERY_MS);
        }
      }),
    ),
  );

  await sleep(5000);
  for (const name of ['session', 'group', 'message', 'presence', 'media', 'push', 'gateway-0', 'gateway-1']) {
    await step(`kill -9 ${name}, restart`, async () => {
      await mesh.kill(name, 'SIGKILL');
      await sleep(2000);
      await mesh.start(name);
    });
    await sleep(4000);
  }
  for (const server of ['redis', 'kafka', 'cassandra']) {
    await step(`restart ${server}`, async () => {
      infra('restart', server);
    });
    await sleep(6000);
  }
  await step(`SIGSTOP gateway-1 for ${3 * HEARTBEAT_MS} ms (heartbeat ${HEARTBEAT_MS} ms), SIGCONT`, async () => {
    const pid = mesh.pid('gateway-1')!;
    process.kill(pid, 'SIGSTOP');
    await sleep(3 * HEARTBEAT_MS);
    process.kill(pid, 'SIGCONT');
  });
  await sleep(6000);
  stop = true;
  await load;
  const loadMs = Date.now() - t0;

  // Final pass: wait for live delivery to catch up (or 90 s), then every device reconnects once and drains.
  const peerOf = new Map(pairs.flatMap((p) => [[p.a.deviceId, p.b], [p.b.deviceId, p.a]] as const));
  const caughtUp = () => acked.every((m) => peerOf.get(m.deviceId)!.dev.has(m.chatId, m.seq));
  const tq = Date.now();
  while (!caughtUp() && Date.now() - tq < 90_000) await sleep(200);
  const liveCaughtUp = caughtUp();
  for (const d of devices) await d.stop();
  await Promise.all(
    devices.map(async (d, i) => {
      await d.dev.connect(i % 2);
      await d.dev.waitDrained(120_000);
    }),
  );

  // Counts per device.
  const rows: { device: string; peerAcked: number; delivered: number; lost: number; dupAfterDedupe: number; gaps: number; rawRedeliveries: number; reconnects: number; retriedSends: number }[] = [];
  for (const p of pairs) {
    const history: Message[] = await fullHistory(p.a.dev.c, p.chatId);
    const userMsgs = history.filter((m) => m.kind === 'user');
    const byCm = new Map<string, number>();
    for (const m of userMsgs) byCm.set(`${m.sender.deviceId}|${m.clientMsgId}`, (byCm.get(`${m.sender.deviceId}|${m.clientMsgId}`) ?? 0) + 1);
    for (const [d, peer] of [
      [p.a, p.b],
      [p.b, p.a],
    ] as const) {
      const fromPeer = acked.filter((m) => m.deviceId === peer.deviceId);
      const delivered = fromPeer.filter((m) => d.dev.has(p.chatId, m.seq)).length;
      const held = new Set(d.dev.seqs(p.chatId));
      for (const m of history) if (m.sender.deviceId === d.deviceId) held.add(m.seq);
      const gaps = history.filter((m) => !held.has(m.seq)).length;
      const dup = [...byCm.entries()].filter(([k, n]) => k.startsWith(`${peer.deviceId}|`) && n > 1).length;
      rows.push({
        device: d.dev.name,
        peerAcked: fromPeer.length,
        delivered,
        lost: fromPeer.length - delivered,
        dupAfterDedupe: dup,
        gaps,
        rawRedeliveries: [...d.dev.deliveries.values()].filter((v) => v > 1).length,
        reconnects: d.reconnects,
        retriedSends: acked.filter((m) => m.deviceId === d.deviceId && m.attempts > 1).length,
      });
    }
  }
  const total = (k: keyof (typeof rows)[number]) => rows.reduce((n, r) => n + (r[k] as number), 0);
  const md = [
    `Fault campaign (\`./parley chaos\`), ${new Date().toISOString()}: ${PAIRS} pairs (${2 * PAIRS} devices, one per user, peers on different gateways), each device sending to its peer every ${SEND_EVERY_MS} ms; ${attempted} sends attempted, ${acked.length} acked, over ${(loadMs / 1000).toFixed(0)} s; live delivery caught up before the final pass: ${liveCaughtUp ? 'yes' : 'no'}.`,
    '',
    '| at | fault | took |',
    '|---|---|---|',
    ...timeline.map((t) => `| +${(t.at / 1000).toFixed(0)} s | ${t.what} | ${(t.tookMs / 1000).toFixed(1)} s |`),
    '',
    '| device | acked by its peer | delivered to it | lost | duplicates after dedupe | gaps | raw redeliveries (deduped) | reconnects | its sends retried |',
    '|---|---|---|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.device} | ${r.peerAcked} | ${r.delivered} | ${r.lost} | ${r.dupAfterDedupe} | ${r.gaps} | ${r.rawRedeliveries} | ${r.reconnects} | ${r.retriedSends} |`),
    `| **total** | ${total('peerAcked')} | ${total('delivered')} | **${total('lost')}** | **${total('dupAfterDedupe')}** | **${total('gaps')}** | ${total('rawRedeliveries')} | ${total('reconnects')} | ${total('retriedSends')} |`,
  ].join('\n');
  writeFileSync(join(OUT, 'result.md'), `${md}\n`);
  writeFileSync(join(OUT, 'result.json'), JSON.stringify({ pairs: PAIRS, attempted, acked: acked.length, loadMs, liveCaughtUp, timeline, rows }, null, 2));
  console.log(md);

  expect(acked.length).toBeGreaterThan(100);
  expect({ lost: total('lost'), duplicates: total('dupAfterDedupe'), gaps: total('gaps') }).toEqual({ lost: 0, duplicates: 0, gaps: 0 });
}, 1_800_000);
