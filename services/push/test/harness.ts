// Runs the real push service as a child process (so NODE_EXTRA_CA_CERTS reaches it as in production) against
// the real Cassandra and Kafka (own keyspace and namespace) and the local fake providers; produces
// PushRequestEvents to push.requests.v1 as the message service does.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { create } from '@bufbuild/protobuf';
import { createCassandra, createClient, createKafka, createLogger, EventProducer, nsTopic, TOPICS, type Client } from '@parley/kit';
import { eventsV1, pushV1 } from '@parley/proto';
import { freePort, infraEnv, repoRoot, startPushFakes, testPki, uniqueName, waitFor, type PushFakes } from '@parley/testing';

export interface PushHarness {
  fakes: PushFakes;
  client: Client<typeof pushV1.PushService>;
  ns: string;
  keyspace: string;
  metricsUrl: string;
  produce(events: Array<Partial<eventsV1.PushRequestEvent> & { deviceId: string; userId: string; chatId: string; seq: bigint }>): Promise<void>;
  kill9(): Promise<void>;
  /** True when the push-sender group has committed every push request produced so far. */
  requestsCommitted(): Promise<boolean>;
  start(): Promise<void>;
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  stop(): Promise<void>;
}

export async function startPushHarness(env: Record<string, string> = {}): Promise<PushHarness> {
  const root = repoRoot();
  const script = join(root, 'services', 'push', 'dist', 'main.js');
  if (!existsSync(script)) throw new Error(`${script} is missing: run pnpm exec tsc --build`);
  const fakes = await startPushFakes();
  const id = uniqueName('pt');
  const ns = id;
  const keyspace = `push_${id}`;
  const grpcPort = await freePort();
  const httpPort = await freePort();
  const logDir = join(root, '.run', 'push-test');
  mkdirSync(logDir, { recursive: true });
  const procEnv: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    ...infraEnv(),
    PARLEY_CASSANDRA_KEYSPACE: keyspace,
    PARLEY_NAMESPACE: ns,
    PARLEY_KAFKA_TOPIC_PARTITIONS: '3',
    PARLEY_LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'info',
    PUSH_GRPC_PORT: String(grpcPort),
    PUSH_HTTP_PORT: String(httpPort),
    PUSH_HOST: '127.0.0.1',
    PARLEY_MESH_TLS_DIR: testPki().dirOf('push'),
    PUSH_COLLAPSE_WINDOW: '2500ms',
    PUSH_RETRY_BASE: '100ms',
    PUSH_RETRY_MAX: '2s',
    PUSH_PROVIDER_REPROBE_BASE: '1s',
    PUSH_PROVIDER_REPROBE_MAX: '3s',
    ...fakes.env,
    ...env,
  };
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  const start = async () => {
    const log = createWriteStream(join(logDir, `${id}.log`), { flags: 'a' });
    const c = spawn(process.execPath, ['--enable-source-maps', script], { cwd: root, env: procEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    c.stdout?.pipe(log);
    c.stderr?.pipe(log);
    child = c;
    exited = new Promise((r) => c.once('exit', () => r()));
    await waitFor(
      async () => {
        if (c.exitCode !== null) throw new Error(`push exited; log ${join(logDir, `${id}.log`)}`);
        return (await fetch(`http://127.0.0.1:${httpPort}/readyz`)).status === 200;
      },
      { timeoutMs: 90_000, intervalMs: 200, description: 'push ready' },
    );
  };
  await start();
  const logger = createLogger('push-test', 'warn');
  const kafka = createKafka({ brokers: procEnv.PARLEY_KAFKA_BROKERS!.split(','), clientId: 'push-test', logger });
  const producer = new EventProducer(kafka, logger);
  const client = createClient(pushV1.PushService, `127.0.0.1:${grpcPort}`, { identity: testPki().identity('gateway'), deadlineMs: 10_000 });
  const topic = nsTopic(ns, TOPICS.pushRequests);
  const metricsUrl = `http://127.0.0.1:${httpPort}/metrics`;

  return {
    fakes,
    client,
    ns,
    keyspace,
    metricsUrl,
    async produce(events) {
      await producer.send(
        topic,
        eventsV1.PushRequestEventSchema,
        events.map((e) => ({
          key: e.deviceId,
          message: create(eventsV1.PushRequestEventSchema, {
            messageId: `m-${e.chatId}-${e.seq}`,
            senderUserId: 'sender',
            createdAt: BigInt(Date.now()),
            bodyKind: eventsV1.PushBodyKind.TEXT,
            textPreview: `hello ${e.seq}`,
            ...e,
          }),
        })),
      );
    },
    async requestsCommitted() {
      const admin = kafka.admin();
      await admin.connect();
      try {
        const ends = await admin.fetchTopicOffsets(topic);
        const [group] = await admin.fetchOffsets({ groupId: nsTopic(ns, 'push-sender'), topics: [topic] });
        const committed = new Map((group?.partitions ?? []).map((p) => [p.partition, BigInt(p.offset)]));
        return ends.every((e) => BigInt(e.high) === 0n || (committed.get(e.partition) ?? -1n) >= BigInt(e.high));
      } finally {
        await admin.disconnect();
      }
    },
    async kill9() {
      child?.kill('SIGKILL');
      await exited;
    },
    start,
    async metric(name, labels = {}) {
      const text = await (await fetch(metricsUrl)).text();
      let sum = 0;
      for (const line of text.split('\n')) {
        if (!line.startsWith(name)) continue;
        const m = /^([a-z_]+)(\{[^}]*\})? ([0-9.e+-]+)$/.exec(line);
        if (!m || m[1] !== name) continue;
        if (Object.entries(labels).every(([k, v]) => (m[2] ?? '').includes(`${k}="${v}"`))) sum += Number(m[3]);
      }
      return sum;
    },
    async stop() {
      client.close();
      await producer.disconnect().catch(() => {});
      if (child && child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      }
      await fakes.close();
      const cql = createCassandra({ contactPoints: procEnv.PARLEY_CASSANDRA_CONTACT_POINTS!.split(','), localDataCenter: procEnv.PARLEY_CASSANDRA_DATACENTER ?? 'datacenter1' });
      await cql.execute(`DROP KEYSPACE IF EXISTS ${keyspace}`).catch(() => {});
      await cql.shutdown();
    },
  };
}
