// runPipelinedConsumer against the real broker: a slow handler does not hold up later events of its
// partition, offsets are committed only up to the first unfinished event, and a stop redelivers exactly the
// unfinished events (and any finished after them) to the next owner.
import { create } from '@bufbuild/protobuf';
import { eventsV1 } from '@parley/proto';
import { EventProducer, createKafka, ensureTopics, runPipelinedConsumer, type PipelinedConsumerHandle } from '../src/index.js';
import { infra, logger, runId, waitFor } from './support.js';

jest.setTimeout(90_000);
const kafka = createKafka({ brokers: infra.kafkaBrokers, clientId: 'kit-pipelined-test', logger });
const Receipt = eventsV1.ReceiptEventSchema;
const ev = (n: number) => create(Receipt, { chatId: 'c1', userId: 'u', upToSeq: BigInt(n) });

let producer: EventProducer;
const handles: PipelinedConsumerHandle[] = [];
beforeAll(() => {
  producer = new EventProducer(kafka, logger);
});
afterAll(async () => {
  await Promise.all(handles.map((h) => h.stop().catch(() => {})));
  await producer.disconnect();
});

it('keeps going past a slow event, and redelivers only what was unfinished after a stop', async () => {
  const topic = `${runId}.pipelined.v1`;
  const group = `${runId}.pipelined`;
  await ensureTopics(kafka, [{ topic, numPartitions: 1 }]);
  const done: number[] = [];
  let releaseSlow!: () => void;
  const slow = new Promise<void>((r) => (releaseSlow = r));
  const first = await runPipelinedConsumer({
    kafka,
    groupId: group,
    topic,
    schema: Receipt,
    logger,
    handler: async (e) => {
      const n = Number(e.upToSeq);
      if (n === 3) await slow; // never released before the stop
      done.push(n);
    },
  });
  handles.push(first);
  await producer.send(topic, Receipt, [1, 2, 3, 4, 5].map((n) => ({ key: 'k', message: ev(n) })));
  await waitFor(() => [1, 2, 4, 5].every((n) => done.includes(n)), 30_000);
  expect(done).not.toContain(3);
  expect(first.inFlight()).toBe(1);
  await new Promise((r) => setTimeout(r, 500)); // let the commit of 1, 2 land
  await first.stop();
  releaseSlow();

  const second: number[] = [];
  const next = await runPipelinedConsumer({ kafka, groupId: group, topic, schema: Receipt, logger, handler: async (e) => void second.push(Number(e.upToSeq)) });
  handles.push(next);
  await waitFor(() => second.includes(3) && second.includes(5), 30_000);
  // 1 and 2 were committed; 3 was unfinished, so 3, 4, 5 come again.
  expect(second.sort()).toEqual([3, 4, 5]);
});

it('ensureTopics: concurrent creators of the same topics all succeed (the lost race is retried)', async () => {
  const topics = [1, 2, 3].map((i) => ({ topic: `${runId}.race${i}.v1`, numPartitions: 3 }));
  const clients = [1, 2, 3].map((i) => createKafka({ brokers: infra.kafkaBrokers, clientId: `race-${i}`, logger }));
  const results = await Promise.allSettled(clients.map((k) => ensureTopics(k, topics)));
  expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled']);
  const admin = clients[0]!.admin();
  await admin.connect();
  const md = await admin.fetchTopicMetadata({ topics: topics.map((t) => t.topic) });
  await admin.disconnect();
  expect(md.topics.map((t) => t.partitions.length)).toEqual([3, 3, 3]);
});
