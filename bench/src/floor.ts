// The store floor (issue 9's "CPU per message" target): what ONE request costs the local Cassandra and Kafka
// servers on this box, whatever Parley does around it. Writes `--floor-count` single-row inserts (a message-
// log-shaped row) with `--floor-concurrency` in flight, then the same rows 16 to an unlogged batch in one
// partition, then produces the same number of 200-byte records to Kafka one request each (acks=all), and
// reads each server's user+system CPU from /proc around each phase. A temporary keyspace and topic are
// dropped afterwards. Usage: node bench/dist/floor.js [--floor-count 20000] [--floor-concurrency 64]
import { randomBytes } from 'node:crypto';
import { infraProcs, snapshot, diff } from './cpu.js';
import { scratchKeyspace, scratchTopic } from './scratch.js';

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};

async function pool(n: number, concurrency: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) await fn(next++);
    }),
  );
}

async function main(): Promise<void> {
  const count = arg('floor-count', 20_000);
  const concurrency = arg('floor-concurrency', 64);
  const { db, drop } = await scratchKeyspace(['log (chat_id text, bucket bigint, seq bigint, payload blob, PRIMARY KEY ((chat_id, bucket), seq))']);
  const payload = randomBytes(200);
  const insert = 'INSERT INTO log (chat_id, bucket, seq, payload) VALUES (?, ?, ?, ?)';
  const rows: string[] = ['| phase | requests | rows | cassandra CPU ms per request | per row | client CPU ms per row | wall s |', '| --- | --- | --- | --- | --- | --- | --- |'];
  const phase = async (label: string, requests: number, rowsPer: number, fn: () => Promise<void>) => {
    const procs = [...infraProcs(), { name: 'client', pid: process.pid }];
    const before = snapshot(procs);
    const t0 = performance.now();
    await fn();
    const wall = (performance.now() - t0) / 1000;
    const used = diff(before, snapshot(procs));
    const srv = used.get(label.startsWith('kafka') ? 'kafka' : 'cassandra') ?? 0;
    const cli = used.get('client') ?? 0;
    rows.push(`| ${label} | ${requests} | ${requests * rowsPer} | ${(srv / requests).toFixed(3)} | ${(srv / (requests * rowsPer)).toFixed(3)} | ${(cli / (requests * rowsPer)).toFixed(3)} | ${wall.toFixed(1)} |`);
    console.log(rows[rows.length - 1]);
  };
  try {
    // Warm-up (prepared statement, JIT).
    await pool(2000, concurrency, (i) => db.execute(insert, [`w${i % 100}`, 0, i, payload], { prepare: true }));
    await phase('cassandra: one row per request', count, 1, () => pool(count, concurrency, (i) => db.execute(insert, [`c${i % 1000}`, 0, i, payload], { prepare: true })));
    const batches = Math.floor(count / 16);
    await phase('cassandra: 16 rows of one partition per unlogged batch', batches, 16, () =>
      pool(batches, concurrency, (b) => db.batch(Array.from({ length: 16 }, (_, k) => ({ query: insert, params: [`b${b % 1000}`, 0, b * 16 + k, payload] })), { prepare: true, logged: false })),
    );
    const { kafka, topic, drop: dropTopic } = await scratchTopic();
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    const value = randomBytes(200);
    const kcount = Math.min(count, 5000); // one request at a time (the idempotent producer's order rule)
    await phase('kafka: one record per produce request (acks=all)', kcount, 1, () => pool(kcount, 1, (i) => producer.send({ topic, acks: -1, messages: [{ key: `k${i % 1000}`, value }] })));
    const kb = Math.floor(kcount / 16);
    await phase('kafka: 16 records per produce request', kb, 16, () => pool(kb, 1, (i) => producer.send({ topic, acks: -1, messages: Array.from({ length: 16 }, (_, k) => ({ key: `k${(i * 16 + k) % 1000}`, value })) })));
    await producer.disconnect();
    await dropTopic();
  } finally {
    await drop();
  }
  console.log('\n' + rows.join('\n'));
}

void main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
