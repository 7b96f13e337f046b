// The store adapters against the REAL local servers (./parley infra start): Cassandra migrations +
// write/read, Kafka produce/consume with commit-after-effect and the dead-letter topic, Redis get/set and
// pub/sub, MinIO presign + fetch.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { create } from '@bufbuild/protobuf';
import { eventsV1 } from '@parley/proto';
import {
  EventProducer,
  createCassandra,
  createKafka,
  createLogger,
  createObjectStore,
  createRedis,
  dlqTopic,
  ensureTopics,
  loadMigrations,
  runConsumer,
  runMigrations,
  ParleyError,
  type CassandraSettings,
} from '../src/index.js';

const logger = createLogger('kit-stores-test', 'silent');
const run = `t${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
const env = process.env;

describe('Cassandra', () => {
  const settings: CassandraSettings = {
    contactPoints: (env.PARLEY_CASSANDRA_CONTACT_POINTS ?? '127.0.0.1:9142').split(','),
    localDataCenter: env.PARLEY_CASSANDRA_DATACENTER ?? 'datacenter1',
    keyspace: `kit_${run}`,
  };

  it('applies versioned migrations once, then writes and reads back', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mig-'));
    writeFileSync(join(dir, '001_init.cql'), '-- a table\nCREATE TABLE IF NOT EXISTS notes (id text PRIMARY KEY, body text);\n');
    writeFileSync(join(dir, '002_more.cql'), 'ALTER TABLE notes ADD tags set<text>;\n');
    const migrations = loadMigrations(dir);
    expect(migrations.map((m) => m.version)).toEqual([1, 2]);
    const first = await runMigrations({ settings, service: 'kit-test', migrations, logger });
    expect(first.applied).toEqual(['1_init', '2_more']);
    const again = await runMigrations({ settings, service: 'kit-test', migrations, logger });
    expect(again.applied).toEqual([]);

    const client = createCassandra(settings);
    try {
      await client.execute('INSERT INTO notes (id, body, tags) VALUES (?, ?, ?)', ['n1', 'hello', ['a', 'b']]);
      const row = (await client.execute('SELECT body, tags FROM notes WHERE id = ?', ['n1'])).first();
      expect(row.get('body')).toBe('hello');
      expect([...row.get('tags')].sort()).toEqual(['a', 'b']);
    } finally {
      await client.shutdown();
    }
  }, 90_000);
});

describe('Kafka', () => {
  const kafka = createKafka({ brokers: (env.PARLEY_KAFKA_BROKERS ?? '127.0.0.1:9192').split(','), clientId: 'kit-test', logger });
  const topic = `${run}.chat.receipts.v1`;

  it('produces and consumes protobuf events, commits after the effect, dead-letters poison', async () => {
    const created = await ensureTopics(kafka, [{ topic, numPartitions: 2 }]);
    expect(created).toEqual(expect.arrayContaining([topic, dlqTopic(topic)]));
    const producer = new EventProducer(kafka, logger);
    const seen: bigint[] = [];
    let failedOnce = false;
    const consumer = await runConsumer({
      kafka,
      groupId: `${run}.g`,
      topic,
      schema: eventsV1.ReceiptEventSchema,
      logger,
      handler: async (ev) => {
        if (ev.upToSeq === 2n && !failedOnce) {
          failedOnce = true;
          throw new Error('transient failure'); // retried, not committed until it succeeds
        }
        if (ev.upToSeq === 99n) throw new Error('always fails'); // poison: goes to the DLQ
        seen.push(ev.upToSeq);
      },
    });
    const dlqSeen: string[] = [];
    const dlqConsumer = kafka.consumer({ groupId: `${run}.dlq` });
    await dlqConsumer.connect();
    await dlqConsumer.subscribe({ topic: dlqTopic(topic), fromBeginning: true });
    await dlqConsumer.run({ eachMessage: async ({ message }) => void dlqSeen.push(message.headers?.['x-error']?.toString() ?? '') });

    const ev = (n: number) => create(eventsV1.ReceiptEventSchema, { chatId: 'c1', userId: 'u', upToSeq: BigInt(n) });
    await producer.send(topic, eventsV1.ReceiptEventSchema, [1, 2, 99, 3].map((n) => ({ key: 'c1', message: ev(n) })));
    // A frame that is not a valid protobuf at all.
    const raw = kafka.producer();
    await raw.connect();
    await raw.send({ topic, messages: [{ key: 'c1', value: Buffer.from([0xff, 0xff, 0xff]) }] });
    await producer.sendOne(topic, eventsV1.ReceiptEventSchema, 'c1', ev(4));

    const t0 = Date.now();
    while ((seen.length < 4 || dlqSeen.length < 2) && Date.now() - t0 < 30_000) await new Promise((r) => setTimeout(r, 100));
    expect(seen).toEqual([1n, 2n, 3n, 4n]);
    expect(failedOnce).toBe(true);
    expect(dlqSeen).toHaveLength(2);
    expect(dlqSeen[0]).toMatch(/always fails/);

    await raw.disconnect();
    await dlqConsumer.disconnect();
    await consumer.stop();
    await producer.disconnect();
  }, 60_000);

  it('reports an unreachable broker as unavailable', async () => {
    const dead = createKafka({ brokers: ['127.0.0.1:1'], clientId: 'kit-test-dead', logger });
    const p = new EventProducer(dead, logger);
    const err = await p.sendOne(topic, eventsV1.ReceiptEventSchema, 'k', { chatId: 'x' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ParleyError);
    expect((err as ParleyError).code).toBe('unavailable');
  }, 60_000);
});

describe('Redis', () => {
  it('sets, gets and publishes', async () => {
    const url = env.PARLEY_REDIS_URL ?? 'redis://127.0.0.1:6390';
    const a = createRedis(url, { logger, name: 'a' });
    const sub = createRedis(url, { logger, name: 'sub', subscriber: true });
    try {
      await a.set(`${run}:k`, 'v', 'EX', 30);
      expect(await a.get(`${run}:k`)).toBe('v');
      const got = new Promise<Buffer>((ok) => sub.on('messageBuffer', (_ch: Buffer, msg: Buffer) => ok(msg)));
      await sub.subscribe(`${run}:ch`);
      await a.publish(`${run}:ch`, Buffer.from([1, 2, 3]));
      expect(Array.from(await got)).toEqual([1, 2, 3]);
    } finally {
      a.disconnect();
      sub.disconnect();
    }
  });
});

describe('MinIO', () => {
  it('presigns an upload and a download of the same bytes', async () => {
    const store = createObjectStore({
      endpoint: env.PARLEY_MINIO_ENDPOINT ?? 'http://127.0.0.1:9100',
      accessKey: env.PARLEY_MINIO_ACCESS_KEY ?? 'parley',
      secretKey: env.PARLEY_MINIO_SECRET_KEY ?? 'parley-secret-key',
      bucket: `kit-${run}`.toLowerCase().slice(0, 60),
    });
    await store.ensureBucket();
    await store.ping();
    const bytes = Buffer.from('parley media bytes ' + run);
    const put = await store.presignedPut('a/b.txt', 60);
    const up = await fetch(put, { method: 'PUT', body: bytes });
    expect(up.status).toBe(200);
    expect((await store.stat('a/b.txt'))?.size).toBe(bytes.length);
    const get = await store.presignedGet('a/b.txt', 60);
    const down = await fetch(get);
    expect(Buffer.from(await down.arrayBuffer()).equals(bytes)).toBe(true);
    await store.remove('a/b.txt');
    expect(await store.stat('a/b.txt')).toBeUndefined();
    await store.client.removeBucket(store.bucket);
  });
});
