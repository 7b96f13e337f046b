// The floor at the issue's rate (issue 9: "≥ 3,000 msg/s" and "≤ 0.6 ms of CPU per delivered+acked message,
// all processes summed"). It runs, on this box's real servers, only the work that protocol.md and design.md
// force on ONE delivered and acked 1:1 message, at `--rate` msg/s, with batching better than a real send path
// can get (everything due in a `--tick-ms` tick shares one request), and reads every process's CPU from /proc:
//
//   ws        the gateway's frames (fastify + @fastify/websocket, JSON): send in, reply out, message.new out,
//             a batched ack in (every 100 ms per receiver), a receipt out: floor-ws.ts, server and load in
//             two child processes (the load's CPU is the generator's, reported apart)
//   grpc      the gateway → message hop twice (the send, the ack): one unary call per tick carrying the
//             tick's items, both ends in this process, plaintext (the mesh's mTLS costs more)
//   cassandra the log row per message (one unlogged batch per tick) and the receiver's inbox cursor, coalesced
//             per chat over 100 ms (the real path also writes a dedupe row, the chat head and a receipt mark)
//   kafka     one record per message produced (acks=all, idempotent) and consumed by one group (the real path
//             has two topics: chat.messages.v1 and chat.receipts.v1)
//   redis     two PUBLISHes per message (the delivery and the receipt), one pipeline per tick, one subscriber
//   connect   (not a message: the connect path's "≥ 2,000 upgrades/s") WebSocket upgrades with the gateway's
//             ES256 token check and nothing else, at `--connect-rate` a second for 5 s, held open
//
// Each component runs alone (the others idle), so each gets the whole box; their sum is a lower bound for
// the whole path, which has to do all of it at once plus the application's own work. A temporary keyspace and
// topic are dropped afterwards. Usage: node bench/dist/floor-rate.js [--rate 3000] [--seconds 10] [--tick-ms 10]
// [--pairs 100] [--only ws,grpc,cassandra,kafka,redis] [--out FILE.md]
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { cpus, totalmem } from 'node:os';
import * as grpc from '@grpc/grpc-js';
import { createLogger, createRedis } from '@parley/kit';
import { infraSettings } from '@parley/testing';
import { boxLine, boxSnapshot, diff, infraProcs, snapshot, type ProcRef } from './cpu.js';
import type { ConnectResult, FramesResult } from './floor-ws.js';
import { scratchKeyspace, scratchTopic } from './scratch.js';

const argOf = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const rate = Number(argOf('rate') ?? 3000);
const seconds = Number(argOf('seconds') ?? 10);
const tickMs = Number(argOf('tick-ms') ?? 10);
const pairs = Number(argOf('pairs') ?? 100);
const only = (argOf('only') ?? 'ws,grpc,cassandra,kafka,redis,connect').split(',');
const connectRate = Number(argOf('connect-rate') ?? 2000);
const out = argOf('out');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Row {
  component: string;
  /** messages the phase completed (delivered, written, consumed …) */
  done: number;
  wallS: number;
  /** process name → CPU ms over the phase */
  cpu: Map<string, number>;
  /** process names that count for the floor (the generator does not) */
  counted: string[];
  note: string;
  box: string;
}
const rows: Row[] = [];

/**
 * Runs `tick(n, i)` every tickMs for `secs` seconds with n messages each (the fraction carried over), at most
 * 64 ticks unfinished (beyond that the phase cannot keep up; it waits, and the achieved rate shows it).
 */
async function atRate(secs: number, tick: (n: number, base: number) => Promise<unknown>): Promise<number> {
  const perTick = (rate * tickMs) / 1000;
  let owed = 0;
  let issued = 0;
  const inflight = new Set<Promise<unknown>>();
  const t0 = performance.now();
  while (performance.now() - t0 < secs * 1000) {
    owed += perTick;
    const n = Math.floor(owed);
    owed -= n;
    if (n > 0) {
      const p = tick(n, issued).finally(() => inflight.delete(p));
      inflight.add(p);
      issued += n;
    }
    while (inflight.size >= 64) await Promise.race(inflight);
    const nextAt = t0 + ((issued + owed) / perTick) * tickMs;
    await sleep(Math.max(0, nextAt - performance.now()));
  }
  await Promise.all(inflight);
  return issued;
}

/** What a phase's measured run reports: messages completed, and optionally its note and its own wall time. */
interface RunResult {
  done: number;
  note?: string;
  wallS?: number;
}

/** The row of one measured run: the CPU of `procs` and of the whole box around `run`. */
async function measure(component: string, procs: ProcRef[], counted: string[], run: () => Promise<RunResult>): Promise<Row> {
  const a = snapshot(procs);
  const boxA = boxSnapshot();
  const t0 = performance.now();
  const r = await run();
  const wallS = r.wallS ?? (performance.now() - t0) / 1000;
  const cpu = diff(a, snapshot(procs));
  console.log(`[floor] ${component}: ${(r.done / wallS).toFixed(0)} msg/s, ${[...cpu].map(([k, v]) => `${k} ${(v / r.done).toFixed(3)}`).join(', ')} ms/msg`);
  return { component, done: r.done, wallS, cpu, counted, note: r.note ?? '', box: boxLine(boxA, boxSnapshot()) };
}

const me: ProcRef = { name: 'node (this process)', pid: process.pid };
const settings = infraSettings();
const infra = infraProcs();
const infraOf = (name: string) => infra.filter((p) => p.name === name);

const WS_SERVER = 'ws server (gateway stack)';
const WS_LOAD = 'ws load (generator)';

/**
 * floor-ws.ts's server and load as two child processes: `run(start)` gets a function that starts the load at
 * a rate for some seconds and resolves to its result; a 2 s warm-up at the measured rate runs first (JIT).
 */
async function withWsChildren<R>(mode: 'frames' | 'connect', runRate: number, run: (start: (secs: number) => Promise<R>, procs: ProcRef[]) => Promise<Row>): Promise<Row> {
  const script = fileURLToPath(new URL('./floor-ws.js', import.meta.url));
  const server = fork(script, [`${mode}-server`], { stdio: 'inherit' });
  const hello = await new Promise<{ port: number; signer?: unknown }>((r) => server.once('message', r as never));
  const client = fork(script, [`${mode}-client`, String(hello.port), String(pairs)], { stdio: 'inherit' });
  client.send({ signer: hello.signer });
  await new Promise((r) => client.once('message', r));
  const start = (secs: number) => {
    const done = new Promise<R>((r) => client.once('message', r as never));
    client.send({ cmd: 'start', rate: runRate, seconds: secs, tickMs });
    return done;
  };
  try {
    await start(2);
    return await run(start, [
      { name: WS_SERVER, pid: server.pid! },
      { name: WS_LOAD, pid: client.pid! },
    ]);
  } finally {
    server.send({ cmd: 'stop' });
    client.kill();
    await sleep(300);
  }
}

async function wsPhase(): Promise<void> {
  rows.push(
    await withWsChildren<FramesResult>('frames', rate, (start, procs) =>
      measure("ws: the gateway's frames", procs, [WS_SERVER], async () => {
        const s = await start(seconds);
        // The rate over the sending, not the load's 600 ms tail for the last acks and receipts.
        return { done: s.delivered, wallS: (s.wallMs - 600) / 1000, note: `sent ${s.sent}, replies ${s.replies}, delivered ${s.delivered}, receipt frames ${s.receipts}` };
      }),
    ),
  );
}

let connectRow: Row | undefined;
async function connectPhase(): Promise<void> {
  connectRow = await withWsChildren<ConnectResult>('connect', connectRate, (start, procs) =>
    measure(`connect: upgrade + ES256 check, offered ${connectRate}/s`, procs, [WS_SERVER], async () => {
      const s = await start(5);
      return { done: s.opened, wallS: s.wallMs / 1000, note: `offered ${s.started} in 5 s, opened ${s.opened}, failed ${s.failed}; achieved = opened / time until the last one opened` };
    }),
  );
}

async function grpcPhase(): Promise<void> {
  const id = (b: Buffer) => b;
  const def: grpc.ServiceDefinition = {
    batch: { path: '/floor.Floor/Batch', requestStream: false, responseStream: false, requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id },
  };
  const server = new grpc.Server();
  server.addService(def, {
    batch: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      // One 24-byte answer per 250-byte item (seq, message id, time), as SendBatch answers.
      cb(null, Buffer.alloc((call.request.length / 250) * 24));
    },
  });
  const port = await new Promise<number>((r, j) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? j(e) : r(p))));
  const Client = grpc.makeGenericClientConstructor(def, 'Floor');
  const c = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as { batch(req: Buffer, cb: (e: Error | null, r?: Buffer) => void): void };
  const call = (n: number) => new Promise<void>((r, j) => c.batch(Buffer.alloc(n * 250), (e) => (e ? j(e) : r())));
  await atRate(2, (n) => Promise.all([call(n), call(n)]));
  rows.push(
    await measure('grpc: gateway → message, twice (send, ack)', [me], [me.name], async () => ({
      done: await atRate(seconds, (n) => Promise.all([call(n), call(n)])),
      note: 'client and server in one process, plaintext',
    })),
  );
  (c as unknown as grpc.Client).close();
  server.forceShutdown();
}

async function cassandraPhase(): Promise<void> {
  // The message service's log row and inbox cursor, column for column (services/message/migrations).
  const { db, drop } = await scratchKeyspace([
    'messages (chat_id text, bucket bigint, seq bigint, message_id text, kind int, sender_user_id text, sender_device_id text, system_action int, created_at bigint, payload blob, PRIMARY KEY ((chat_id, bucket), seq))',
    'inbox_cursors (user_id text, device_id text, chat_id text, acked_seq bigint, PRIMARY KEY ((user_id, device_id), chat_id))',
  ]);
  const payload = randomBytes(200);
  const insert = 'INSERT INTO messages (chat_id, bucket, seq, message_id, kind, sender_user_id, sender_device_id, system_action, created_at, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) USING TIMESTAMP ?';
  const cursor = 'UPDATE inbox_cursors USING TIMESTAMP ? SET acked_seq = ? WHERE user_id = ? AND device_id = ? AND chat_id = ?';
  const opts = { prepare: true, logged: false };
  const tick = (n: number, base: number) => {
    const logRows = Array.from({ length: n }, (_, k) => {
      const i = base + k;
      return { query: insert, params: [`chat${i % pairs}`, 0, i, `m${i}`, 1, `u${i % pairs}`, 'd', 0, Date.now(), payload, i] };
    });
    for (let k = 0; k < n; k++) acked.set((base + k) % pairs, base + k);
    return db.batch(logRows, opts);
  };
  // Cursors are coalesced as issue 9 asks: per (device, chat) at most one write per 100 ms (the receivers ack
  // every 100 ms), so at 30 msg/s per chat a cursor row serves ~3 messages.
  const acked = new Map<number, number>();
  const flushCursors = async (): Promise<void> => {
    if (!acked.size) return;
    const rowsNow = [...acked].map(([chat, seq]) => ({ query: cursor, params: [seq, seq, `r${chat}`, 'd', `chat${chat}`] }));
    acked.clear();
    cursorWrites += rowsNow.length;
    await db.batch(rowsNow, opts);
  };
  let cursorWrites = 0;
  const cursorTimer = setInterval(() => void flushCursors(), 100);
  try {
    await atRate(3, tick);
    rows.push(
      await measure('cassandra: log row + inbox cursor', [...infraOf('cassandra'), me], ['cassandra', me.name], async () => {
        const c0 = cursorWrites;
        const msgs = await atRate(seconds, tick);
        return { done: msgs, note: `log rows one unlogged batch per tick; ${((cursorWrites - c0) / msgs).toFixed(2)} cursor rows per message (coalesced per chat over 100 ms, one batch)` };
      }),
    );
  } finally {
    clearInterval(cursorTimer);
    await drop();
  }
}

async function kafkaPhase(): Promise<void> {
  const { kafka, topic, drop } = await scratchTopic();
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const consumer = kafka.consumer({ groupId: `${topic}-g`, maxWaitTimeInMs: 100 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  let consumed = 0;
  const joined = new Promise<void>((r) => consumer.on(consumer.events.GROUP_JOIN, () => r()));
  void consumer.run({
    partitionsConsumedConcurrently: 12,
    eachBatch: async ({ batch }) => {
      consumed += batch.messages.length;
    },
  });
  await joined;
  const value = randomBytes(300);
  // One produce per tick; the idempotent producer allows one request in flight, so ticks queue behind it.
  let chain: Promise<unknown> = Promise.resolve();
  const tick = (n: number, base: number) =>
    (chain = chain.then(() => producer.send({ topic, acks: -1, messages: Array.from({ length: n }, (_, k) => ({ key: `chat${(base + k) % pairs}`, value })) })));
  try {
    const warm = await atRate(2, tick);
    while (consumed < warm) await sleep(20);
    rows.push(
      await measure('kafka: one record produced and consumed', [...infraOf('kafka'), me], ['kafka', me.name], async () => {
        const start = consumed;
        const n = await atRate(seconds, tick);
        const deadline = Date.now() + 10_000;
        while (consumed - start < n && Date.now() < deadline) await sleep(10);
        return { done: consumed - start, note: 'one produce per tick (acks=all, idempotent); one consumer group' };
      }),
    );
  } finally {
    await consumer.disconnect();
    await producer.disconnect();
    await drop();
  }
}

async function redisPhase(): Promise<void> {
  const logger = createLogger('floor', 'warn');
  const url = settings.redis.url;
  const pub = createRedis(url, { logger, name: 'floor-pub' });
  const sub = createRedis(url, { logger, name: 'floor-sub', subscriber: true });
  const channel = `floor:${randomBytes(4).toString('hex')}`;
  let received = 0;
  sub.on('messageBuffer', () => received++);
  await sub.subscribe(channel);
  const delivery = randomBytes(350);
  const receipt = randomBytes(120);
  const tick = (n: number) => {
    const p = pub.pipeline();
    for (let k = 0; k < n; k++) p.publish(channel, delivery).publish(channel, receipt);
    return p.exec();
  };
  try {
    await atRate(2, tick);
    rows.push(
      await measure('redis: two PUBLISHes per message', [...infraOf('redis'), me], ['redis', me.name], async () => {
        const start = received;
        const n = await atRate(seconds, tick);
        const deadline = Date.now() + 5000;
        while (received - start < 2 * n && Date.now() < deadline) await sleep(10);
        return { done: (received - start) / 2, note: 'one pipeline per tick; one subscriber' };
      }),
    );
  } finally {
    pub.disconnect();
    sub.disconnect();
  }
}

function report(): string {
  const lines: string[] = [];
  const cpuModel = cpus()[0]?.model.trim() ?? '?';
  lines.push('# The floor at the issue\'s rate (what one delivered and acked 1:1 message must cost, nothing else)');
  lines.push('');
  lines.push(`- date: ${new Date().toISOString().slice(0, 10)}`);
  lines.push(`- machine: ${cpus().length} vCPU (${cpuModel}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM, Node ${process.version}; the local infra servers (\`./parley infra start\`), nothing of Parley's running`);
  lines.push(`- offered: ${rate} msg/s for ${seconds} s per component, everything due in a ${tickMs} ms tick in one request (${((rate * tickMs) / 1000).toFixed(0)} messages), ${pairs} chats`);
  lines.push(`- command: \`node bench/dist/floor-rate.js ${process.argv.slice(2).join(' ')}\``);
  lines.push('');
  lines.push('| component | achieved msg/s | CPU ms per message, by process | counted for the floor, ms/msg | note |');
  lines.push('| --- | --- | --- | --- | --- |');
  let sum = 0;
  let gen = 0;
  for (const r of rows) {
    const per = (v: number) => v / Math.max(1, r.done);
    const counted = r.counted.reduce((s, k) => s + per(r.cpu.get(k) ?? 0), 0);
    sum += counted;
    for (const [k, v] of r.cpu) if (!r.counted.includes(k)) gen += per(v);
    lines.push(`| ${r.component} | ${(r.done / r.wallS).toFixed(0)} | ${[...r.cpu].map(([k, v]) => `${k} ${per(v).toFixed(3)}`).join('; ')} | ${counted.toFixed(3)} | ${r.note} |`);
  }
  lines.push(`| **sum** | | | **${sum.toFixed(3)}** | the issue's target: 0.6 ms for all of it plus the application |`);
  lines.push('');
  if (connectRow) {
    const r = connectRow;
    const per = (k: string) => (r.cpu.get(k) ?? 0) / Math.max(1, r.done);
    lines.push('The connect path (not part of the sum):');
    lines.push('');
    lines.push('| component | achieved upgrades/s | server CPU ms per upgrade | load (generator) CPU ms per upgrade | note |');
    lines.push('| --- | --- | --- | --- | --- |');
    lines.push(`| ${r.component} | ${(r.done / r.wallS).toFixed(0)} | ${per(WS_SERVER).toFixed(3)} | ${per(WS_LOAD).toFixed(3)} | ${r.note} |`);
    lines.push('');
  }
  if (gen > 0) lines.push(`The load itself (the generator's WebSocket clients, not counted above): ${gen.toFixed(3)} ms per message.`);
  lines.push('');
  lines.push('Whole box during each component (/proc/stat):');
  lines.push('');
  for (const r of connectRow ? [...rows, connectRow] : rows) lines.push(`- ${r.component}: ${r.box.replace(/^whole box over the same time \(\/proc\/stat, % of all cores\): /, '')}`);
  return lines.join('\n') + '\n';
}

async function main(): Promise<void> {
  const phases: Record<string, () => Promise<void>> = { ws: wsPhase, grpc: grpcPhase, cassandra: cassandraPhase, kafka: kafkaPhase, redis: redisPhase, connect: connectPhase };
  for (const name of only) {
    const p = phases[name];
    if (!p) throw new Error(`unknown component ${name} (ws, grpc, cassandra, kafka, redis, connect)`);
    console.log(`[floor] ${name}: ${rate} msg/s for ${seconds} s (after a warm-up)…`);
    await p();
    await sleep(1000);
  }
  const md = report();
  console.log('\n' + md);
  if (out) writeFileSync(out, md);
}

void main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
