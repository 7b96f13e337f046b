// Dead letters are not oblivion (issue 15): what a consumer parks in <topic>.dlq is counted in metrics
// (parley_kafka_dead_lettered_total, served by every ops server) and can be replayed to its source topic
// (replayDeadLetters, the `dlq-replay` operator command); a second replay only sees what arrived since.
// Real Kafka.
import { create } from '@bufbuild/protobuf';
import { eventsV1 } from '@parley/proto';
import { EventProducer, createKafka, createMetrics, ensureTopics, kitRegistry, replayDeadLetters, runConsumer, startOpsServer } from '../src/index.js';
import { infra, logger, runId, waitFor } from './support.js';

jest.setTimeout(180_000);
const kafka = createKafka({ brokers: infra.kafkaBrokers, clientId: 'kit-dlq-test', logger });
const Receipt = eventsV1.ReceiptEventSchema;

const sorted = (xs: bigint[]) => [...xs].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

async function counter(name: string, labels: Record<string, string>): Promise<number> {
  const m = (await kitRegistry.getMetricsAsJSON()).find((x) => x.name === name);
  const v = m?.values.find((x) => Object.entries(labels).every(([k, val]) => x.labels[k] === val));
  return Number(v?.value ?? 0);
}

it('counts dead letters, replays them to the source topic once, and the fixed consumer handles them', async () => {
  const topic = `${runId}.dlqreplay`;
  const group = `${runId}.dlqg`;
  await ensureTopics(kafka, [{ topic, numPartitions: 2, replicationFactor: 1 }]);
  let broken = true;
  const handled: bigint[] = [];
  const consumer = await runConsumer({
    kafka,
    groupId: group,
    topic,
    schema: Receipt,
    logger,
    maxAttempts: 2,
    handler: async (e) => {
      if (broken && e.upToSeq >= 100n) throw new Error('bug in the handler');
      handled.push(e.upToSeq);
    },
  });
  const producer = new EventProducer(kafka, logger);
  const raw = kafka.producer();
  await raw.connect();
  const ops = await startOpsServer({ host: '127.0.0.1', port: 0, logger, registry: createMetrics('dlq-test', { defaultMetrics: false }).registry, checks: {} });
  try {
    for (const n of [1n, 100n, 101n, 2n]) await producer.send(topic, Receipt, `chat-${n}`, create(Receipt, { chatId: `chat-${n}`, userId: 'u', upToSeq: n }));
    await raw.send({ topic, messages: [{ key: 'poison', value: Buffer.from([0xff, 0xff, 0xff, 0x01]) }] });
    await waitFor(async () => (await counter('parley_kafka_dead_lettered_total', { topic, group, reason: 'failed' })) === 2, 60_000, 'two failed events dead-lettered');
    await waitFor(async () => (await counter('parley_kafka_dead_lettered_total', { topic, group, reason: 'undecodable' })) === 1, 60_000, 'the poison event dead-lettered');
    expect(sorted(handled)).toEqual([1n, 2n]);
    // The counter is on the ops server's /metrics.
    const text = await (await fetch(`http://127.0.0.1:${ops.port}/metrics`)).text();
    expect(text).toMatch(new RegExp(`parley_kafka_dead_lettered_total\\{topic="${topic.replace(/\./g, '\\.')}",group="[^"]+",reason="failed"\\} 2`));

    broken = false; // the bug is fixed; replay
    const first = await replayDeadLetters({ kafka, topic, logger, groupId: `${runId}.replay` });
    expect(first.replayed).toBe(3);
    await waitFor(() => handled.length === 4, 60_000, 'replayed events handled');
    expect(sorted(handled)).toEqual([1n, 2n, 100n, 101n]);
    expect(await counter('parley_kafka_dlq_replayed_total', { topic })).toBe(3);
    // The undecodable one is parked again; a second replay sees only that (what arrived since), not the rest.
    await waitFor(async () => (await counter('parley_kafka_dead_lettered_total', { topic, group, reason: 'undecodable' })) === 2, 60_000, 'poison parked again');
    const second = await replayDeadLetters({ kafka, topic, logger, groupId: `${runId}.replay` });
    expect(second.replayed).toBe(1);
    expect(handled).toHaveLength(4);
  } finally {
    await ops.close();
    await raw.disconnect();
    await producer.disconnect();
    await consumer.stop();
  }
});
