// Starts a real MessageService (own keyspace and namespace) against the real Cassandra, Kafka and Redis,
// with in-test GroupService/SessionService gRPC fakes, plus observers of what it publishes.
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { fromBinary } from '@bufbuild/protobuf';
import { createClient, createKafka, createLogger, createCassandra, nsKey, nsTopic, Redis, type Client, type Kafka } from '@parley/kit';
import { eventsV1, messageV1 } from '@parley/proto';
import type { Consumer } from 'kafkajs';
import { envSpec, type MessageConfig } from '../src/config.js';
import { MessageService } from '../src/wiring.js';
import { testPki } from '@parley/testing';
import { startFakePeers } from './fake-peers.js';

export interface Harness {
  svc: MessageService;
  cfg: MessageConfig;
  client: Client<typeof messageV1.MessageService>;
  peers: Awaited<ReturnType<typeof startFakePeers>>;
  ns: string;
  deliveries: Array<{ gatewayId: string; delivery: eventsV1.GatewayDelivery }>;
  pushes: eventsV1.PushRequestEvent[];
  receipts: eventsV1.ReceiptEvent[];
  cql: ReturnType<typeof createCassandra>;
  stop(): Promise<void>;
}

export async function startHarness(env: Record<string, string> = {}): Promise<Harness> {
  const id = randomBytes(4).toString('hex');
  const ns = `mt${id}`;
  const peers = await startFakePeers();
  // The service's mesh identity (mutual TLS, @parley/kit grpc); the test calls it as the gateway would.
  process.env.PARLEY_MESH_TLS_DIR = testPki().dirOf('message');
  const cfg = envSpec.parse({
    MESSAGE_GRPC_PORT: '0',
    MESSAGE_HTTP_PORT: '0',
    MESSAGE_GROUP_ADDR: peers.groupAddr,
    MESSAGE_SESSION_ADDR: peers.sessionAddr,
    MESSAGE_MEDIA_ADDR: '127.0.0.1:1', // media is not built: nothing listens
    MESSAGE_MAX_INFLIGHT_SENDS: '100000', // these suites test sequencing under concurrency, not load shedding (e2e/chat/overload)
    PARLEY_CASSANDRA_KEYSPACE: `msg_${id}`,
    PARLEY_NAMESPACE: ns,
    PARLEY_KAFKA_TOPIC_PARTITIONS: '3',
    PARLEY_LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn',
    ...env,
  });
  const logger = createLogger('message-test', cfg.logLevel);
  const svc = await MessageService.create(cfg, { logger, migrationsDir: join(__dirname, '..', 'migrations'), host: '127.0.0.1' });
  await svc.start();
  const client = createClient(messageV1.MessageService, `127.0.0.1:${svc.grpcPort}`, { identity: testPki().identity('gateway'), deadlineMs: 20_000 });

  const deliveries: Harness['deliveries'] = [];
  const sub = new Redis(cfg.redisUrl);
  const prefix = nsKey(ns, 'parley:gw:');
  await sub.psubscribe(`${prefix}*`);
  sub.on('pmessageBuffer', (_p: Buffer, channel: Buffer, payload: Buffer) => {
    deliveries.push({ gatewayId: channel.toString().slice(prefix.length), delivery: fromBinary(eventsV1.GatewayDeliverySchema, payload) });
  });

  const pushes: eventsV1.PushRequestEvent[] = [];
  const receipts: eventsV1.ReceiptEvent[] = [];
  const kafka: Kafka = createKafka({ brokers: cfg.kafkaBrokers, clientId: 'message-test', logger });
  const consumer: Consumer = kafka.consumer({ groupId: `${ns}.observer` });
  await consumer.connect();
  await consumer.subscribe({ topics: [nsTopic(ns, 'push.requests.v1'), nsTopic(ns, 'chat.receipts.v1')], fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ topic, message }) => {
      if (topic.endsWith('push.requests.v1')) pushes.push(fromBinary(eventsV1.PushRequestEventSchema, message.value!));
      else receipts.push(fromBinary(eventsV1.ReceiptEventSchema, message.value!));
    },
  });
  const cql = createCassandra({ contactPoints: cfg.cassandraContactPoints, localDataCenter: cfg.cassandraDatacenter, keyspace: cfg.cassandraKeyspace });
  await cql.connect();

  return {
    svc,
    cfg,
    client,
    peers,
    ns,
    deliveries,
    pushes,
    receipts,
    cql,
    stop: async () => {
      client.close();
      await consumer.disconnect().catch(() => {});
      sub.disconnect();
      await svc.destroy();
      await peers.stop();
      await cql.execute(`DROP KEYSPACE IF EXISTS ${cfg.cassandraKeyspace}`).catch(() => {});
      await cql.shutdown();
    },
  };
}

export async function waitFor<T>(fn: () => T | undefined | false, timeoutMs = 15_000, what = 'condition'): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
