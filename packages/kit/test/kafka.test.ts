// Kafka against the real broker: protobuf round trip, commit-after-effect, dead-lettering, transient retries,
// redelivery to the next owner, readiness check. Topic and group names are unique per run.
import { create } from '@bufbuild/protobuf';
import { eventsV1 } from '@parley/proto';
import { fromBinary } from '@bufbuild/protobuf';

const fromBinaryReceipt = (v: Buffer) => fromBinary(eventsV1.ReceiptEventSchema, v);
import { EventProducer, ParleyError, checks, createKafka, dlqTopic, ensureTopics, errors, runConsumer, type ConsumerHandle } from '../src/index.js';
import { infra, logger, runId, waitFor } from './support.js';

// jest 30 ignores the project's testTimeout; topic creation alone can take > 5 s on the shared busy box.
jest.setTimeout(60_000);

const kafka = createKafka({ brokers: infra.kafkaBrokers, clientId: 'kit-test', logger });
const Receipt = eventsV1.ReceiptEventSchema;
const ev = (n: number) => create(Receipt, { chatId: 'c1', userId: 'u', upToSeq: BigInt(n) });

let producer: EventProducer;
const cleanup: (() => Promise<unknown>)[] = [];
beforeAll(() => {
  producer = new EventProducer(kafka, logger);
});
afterAll(async () => {
  await Promise.all(cleanup.map((f) => f().catch(() => {})));
  await producer.disconnect();
}, 60_000);

async function dlqReader(topic: string, group: string) {
  const seen: { error: string; attempts: string; offset: string }[] = [];
  const c = kafka.consumer({ groupId: group });
  await c.connect();
  await c.subscribe({ topic: dlqTopic(topic), fromBeginning: true });
  await c.run({
    eachMessage: async ({ message }) =>
      void seen.push({
        error: message.headers?.['x-error']?.toString() ?? '',
        attempts: message.headers?.['x-attempts']?.toString() ?? '',
        offset: message.headers?.['x-source-offset']?.toString() ?? '',
      }),
  });
  cleanup.push(() => c.disconnect());
  return seen;
}

describe('Kafka', () => {
  it('creates topics and their .dlq twins, idempotently', async () => {
    const topic = `${runId}.ensure.v1`;
    const created = await ensureTopics(kafka, [{ topic, numPartitions: 3, replicationFactor: 1 }]);
    expect(created.sort()).toEqual([topic, dlqTopic(topic)].sort());
    expect(await ensureTopics(kafka, [{ topic, numPartitions: 3 }])).toEqual([]);
    const admin = kafka.admin();
    await admin.connect();
    const md = await admin.fetchTopicMetadata({ topics: [topic] });
    await admin.disconnect();
    expect(md.topics[0]!.partitions).toHaveLength(3);
  });

  it('services racing to create the same topics all succeed (message, push and others do at start)', async () => {
    const topics = [`${runId}.race-a.v1`, `${runId}.race-b.v1`].map((topic) => ({ topic, numPartitions: 4 }));
    const clients = [0, 1, 2, 3].map((i) => createKafka({ brokers: infra.kafkaBrokers, clientId: `kit-race-${i}`, logger }));
    const results = await Promise.allSettled(clients.map((k) => ensureTopics(k, topics)));
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled']);
  });

  it('round-trips protobuf events, commits after the effect, dead-letters poison and keeps going', async () => {
    const topic = `${runId}.chat.receipts.v1`;
    await ensureTopics(kafka, [{ topic, numPartitions: 2 }]);
    const seen: bigint[] = [];
    const metas: { key: string; partition: number }[] = [];
    let failedOnce = false;
    const consumer = await runConsumer({
      kafka,
      groupId: `${runId}.g`,
      topic,
      schema: Receipt,
      logger,
      handler: async (e, meta) => {
        if (e.upToSeq === 2n && !failedOnce) {
          failedOnce = true;
          throw new Error('transient failure'); // retried, not committed until it succeeds
        }
        if (e.upToSeq === 99n) throw new Error('always fails'); // poison: goes to the DLQ after maxAttempts
        seen.push(e.upToSeq);
        metas.push({ key: meta.key, partition: meta.partition });
      },
    });
    cleanup.push(() => consumer.stop());
    const dlq = await dlqReader(topic, `${runId}.dlq`);

    await producer.send(topic, Receipt, [1, 2, 99, 3].map((n) => ({ key: 'c1', message: ev(n) })));
    // A frame that is not a valid protobuf at all.
    const raw = kafka.producer();
    await raw.connect();
    await raw.send({ topic, messages: [{ key: 'c1', value: Buffer.from([0xff, 0xff, 0xff]) }] });
    await raw.disconnect();
    await producer.send(topic, Receipt, 'c1', ev(4)); // single-event form
    await producer.sendOne(topic, Receipt, 'c1', { chatId: 'c1', upToSeq: 5n });

    await waitFor(() => seen.length >= 5 && dlq.length >= 2, 30_000, 'events consumed');
    expect(seen).toEqual([1n, 2n, 3n, 4n, 5n]); // per-key order kept across the retry and the poison events
    expect(failedOnce).toBe(true);
    expect(new Set(metas.map((m) => m.key))).toEqual(new Set(['c1']));
    expect(dlq).toHaveLength(2);
    expect(dlq[0]).toMatchObject({ error: expect.stringMatching(/always fails/), attempts: '3' });
    expect(dlq[1]).toMatchObject({ attempts: '0' }); // undecodable: dead-lettered without calling the handler
  }, 60_000);

  it('retries unavailable past maxAttempts without dead-lettering', async () => {
    const topic = `${runId}.transient.v1`;
    await ensureTopics(kafka, [{ topic, numPartitions: 1 }]);
    let calls = 0;
    const done: bigint[] = [];
    const consumer = await runConsumer({
      kafka,
      groupId: `${runId}.gt`,
      topic,
      schema: Receipt,
      logger,
      maxAttempts: 2,
      handler: async (e) => {
        if (++calls <= 4) throw errors.unavailable('group service restarting');
        done.push(e.upToSeq);
      },
    });
    cleanup.push(() => consumer.stop());
    const dlq = await dlqReader(topic, `${runId}.dlqt`);
    await producer.send(topic, Receipt, 'c', ev(7));
    await waitFor(() => done.length === 1, 30_000, 'transient event processed');
    expect(calls).toBe(5);
    expect(done).toEqual([7n]);
    expect(dlq).toHaveLength(0);
  }, 60_000);

  it('an event whose effect did not happen is redelivered to the next consumer; committed ones are not', async () => {
    const topic = `${runId}.redeliver.v1`;
    const groupId = `${runId}.gr`;
    await ensureTopics(kafka, [{ topic, numPartitions: 1 }]);
    const first: bigint[] = [];
    let stuck = false;
    const a: ConsumerHandle = await runConsumer({
      kafka,
      groupId,
      topic,
      schema: Receipt,
      logger,
      handler: async (e) => {
        if (e.upToSeq === 2n) {
          stuck = true;
          throw errors.unavailable('dependency down'); // keeps retrying until we stop this consumer
        }
        first.push(e.upToSeq);
      },
    });
    await producer.send(topic, Receipt, [1, 2, 3].map((n) => ({ key: 'k', message: ev(n) })));
    await waitFor(() => stuck, 30_000, 'consumer reached event 2');
    await a.stop();
    await a.stop(); // idempotent
    expect(first).toEqual([1n]);

    const second: bigint[] = [];
    const b = await runConsumer({ kafka, groupId, topic, schema: Receipt, logger, handler: async (e) => void second.push(e.upToSeq) });
    cleanup.push(() => b.stop());
    await waitFor(() => second.length >= 2, 30_000, 'redelivery');
    expect(second).toEqual([2n, 3n]); // 1 was committed after its effect; 2 was not
  }, 90_000);

  it('checks the cluster for readiness', async () => {
    const check = checks.kafka(kafka);
    await check();
    await Promise.all([check(), check()]); // reuses its admin client; concurrent calls share one probe
    await check.close();
    const dead = checks.kafka(createKafka({ brokers: ['127.0.0.1:1'], clientId: 'kit-test-dead', logger }));
    const t0 = Date.now();
    await expect(dead()).rejects.toBeDefined();
    expect(Date.now() - t0).toBeLessThan(10_000);
    await dead.close();
  }, 30_000);

  it('reports an unreachable broker as unavailable', async () => {
    const dead = createKafka({ brokers: ['127.0.0.1:1'], clientId: 'kit-test-dead', logger });
    const p = new EventProducer(dead, logger);
    const err = await p.sendOne(`${runId}.nowhere`, Receipt, 'k', { chatId: 'x' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ParleyError);
    expect((err as ParleyError).code).toBe('unavailable');
  }, 60_000);

  it('group-commits concurrent sends (any topics) into few requests, keeping per-key order', async () => {
    const a = `${runId}.gc-a.v1`;
    const b = `${runId}.gc-b.v1`;
    await ensureTopics(kafka, [
      { topic: a, numPartitions: 2 },
      { topic: b, numPartitions: 1 },
    ]);
    const p = new EventProducer(kafka, logger);
    await p.connect();
    // Count the produce requests this producer really makes (the real kafkajs client underneath, observed).
    const inner = (p as unknown as { producer: { sendBatch: (...x: unknown[]) => Promise<unknown> } }).producer;
    const real = inner.sendBatch.bind(inner);
    let requests = 0;
    inner.sendBatch = (...x: unknown[]) => {
      requests += 1;
      return real(...x);
    };
    const n = 200;
    await Promise.all(
      Array.from({ length: n }, (_, i) => (i % 2 === 0 ? p.sendOne(a, Receipt, `k${i % 4}`, ev(i)) : p.sendOne(b, Receipt, 'kb', ev(i)))),
    );
    expect(requests).toBeGreaterThanOrEqual(1);
    expect(requests).toBeLessThan(n / 4); // without group commit it would be n
    await p.disconnect();

    const got = new Map<string, bigint[]>();
    const c = kafka.consumer({ groupId: `${runId}.gc` });
    await c.connect();
    await c.subscribe({ topics: [a, b], fromBeginning: true });
    await c.run({
      eachMessage: async ({ topic, message }) => {
        const k = `${topic}|${message.key?.toString()}`;
        const l = got.get(k) ?? [];
        l.push(fromBinaryReceipt(message.value!).upToSeq);
        got.set(k, l);
      },
    });
    cleanup.push(() => c.disconnect());
    await waitFor(() => [...got.values()].reduce((s, l) => s + l.length, 0) >= n, 30_000, 'all group-committed events');
    for (const [k, seqs] of got) {
      const sorted = [...seqs].sort((x, y) => (x < y ? -1 : 1));
      expect([k, seqs]).toEqual([k, sorted]); // per key, in the order they were sent
    }
    expect(got.get(`${b}|kb`)).toHaveLength(n / 2);
  }, 60_000);

  it('keyConcurrency: different keys of a partition run concurrently, each key in order; all committed after the effect', async () => {
    const topic = `${runId}.keyconc.v1`;
    await ensureTopics(kafka, [{ topic, numPartitions: 1 }]);
    // Produce first, then consume: the events arrive in one or few batches.
    const keys = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'];
    await producer.send(
      topic,
      Receipt,
      Array.from({ length: 80 }, (_, i) => ({ key: keys[i % keys.length]!, message: create(Receipt, { chatId: keys[i % keys.length]!, upToSeq: BigInt(i) }) })),
    );
    const seen = new Map<string, bigint[]>();
    let active = 0;
    let maxActive = 0;
    const groupId = `${runId}.kc`;
    const consumer = await runConsumer({
      kafka,
      groupId,
      topic,
      schema: Receipt,
      logger,
      keyConcurrency: 8,
      handler: async (e) => {
        active += 1;
        maxActive = Math.max(maxActive, active);
        await new Promise((r) => setTimeout(r, 5));
        const l = seen.get(e.chatId) ?? [];
        l.push(e.upToSeq);
        seen.set(e.chatId, l);
        active -= 1;
      },
    });
    await waitFor(() => [...seen.values()].reduce((a, l) => a + l.length, 0) >= 80, 30_000, 'all events');
    await consumer.stop();
    expect(maxActive).toBeGreaterThan(1);
    for (const [k, l] of seen) expect([k, l]).toEqual([k, [...l].sort((x, y) => (x < y ? -1 : 1))]);
    // Everything was committed: the group's offset is at the end of the partition.
    const admin = kafka.admin();
    await admin.connect();
    const offs = await admin.fetchOffsets({ groupId, topics: [topic] });
    await admin.disconnect();
    expect(offs[0]!.partitions[0]!.offset).toBe('80');
  }, 60_000);

  it('laneOf: one message key split into finer lanes (here by userId) that run concurrently, each in order', async () => {
    const topic = `${runId}.lanes.v1`;
    await ensureTopics(kafka, [{ topic, numPartitions: 1 }]);
    const users = ['u1', 'u2', 'u3', 'u4'];
    await producer.send(
      topic,
      Receipt,
      Array.from({ length: 40 }, (_, i) => ({ key: 'one-chat', message: create(Receipt, { chatId: 'one-chat', userId: users[i % users.length]!, upToSeq: BigInt(i) }) })),
    );
    const raw = kafka.producer();
    await raw.connect();
    await raw.send({ topic, messages: [{ key: 'one-chat', value: Buffer.from([0xff, 0xff, 0xff]) }] });
    await raw.disconnect();
    await producer.send(topic, Receipt, [{ key: 'one-chat', message: create(Receipt, { chatId: 'one-chat', userId: 'u1', upToSeq: 1000n }) }]);
    const seen = new Map<string, bigint[]>();
    let active = 0;
    let maxActive = 0;
    let undecodable = 0;
    const consumer = await runConsumer({
      kafka,
      groupId: `${runId}.lanes`,
      topic,
      schema: Receipt,
      logger,
      keyConcurrency: 8,
      // Each record is decoded once, for the lane and the handler; an undecodable one gets no event here.
      laneOf: (key, e) => {
        if (!e) undecodable += 1;
        return e?.userId ?? key?.toString() ?? '';
      },
      handler: async (e) => {
        active += 1;
        maxActive = Math.max(maxActive, active);
        await new Promise((r) => setTimeout(r, 5));
        const l = seen.get(e.userId) ?? [];
        l.push(e.upToSeq);
        seen.set(e.userId, l);
        active -= 1;
      },
    });
    await waitFor(() => [...seen.values()].reduce((a, l) => a + l.length, 0) >= 41, 30_000, 'all events');
    await consumer.stop();
    expect(undecodable).toBe(1); // and the consumer went on past it (dead-lettered by the handler step)
    expect(seen.get('u1')!.at(-1)).toBe(1000n);
    expect(maxActive).toBeGreaterThan(1); // one message key, yet concurrent
    expect([...seen.keys()].sort()).toEqual(users);
    for (const [k, l] of seen) expect([k, l]).toEqual([k, [...l].sort((x, y) => (x < y ? -1 : 1))]);
  }, 60_000);
});
