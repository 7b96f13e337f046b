// Starts a real MediaService (own keyspace and namespace) against the real Cassandra, Kafka and MinIO, with
// an in-memory stand-in for the group service's membership answers (a service, not a store).
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { createCassandra, createClient, createKafka, createLogger, ensureTopics, nsTopic, TOPICS, type Client } from '@parley/kit';
import { mediaV1 } from '@parley/proto';
import { testPki } from '@parley/testing';
import { envSpec, type MediaConfig } from '../src/config.js';
import { MediaService } from '../src/wiring.js';
import type { MemberView } from '../src/domain/access.js';
import type { MembersPort } from '../src/domain/ports.js';

export class FakeMembers implements MembersPort {
  readonly chats = new Map<string, MemberView[]>();
  set(chatId: string, members: MemberView[]): void {
    this.chats.set(chatId, members);
  }
  async getMembers(chatId: string): Promise<MemberView[]> {
    return this.chats.get(chatId) ?? [];
  }
}

export interface Harness {
  svc: MediaService;
  cfg: MediaConfig;
  client: Client<typeof mediaV1.MediaService>;
  members: FakeMembers;
  ns: string;
  stop(): Promise<void>;
}

export async function startHarness(env: Record<string, string> = {}): Promise<Harness> {
  const id = randomBytes(4).toString('hex');
  const ns = `md${id}`;
  // The service's mesh identity (mutual TLS, @parley/kit grpc); the test calls it as the gateway would.
  process.env.PARLEY_MESH_TLS_DIR = testPki().dirOf('media');
  const cfg = envSpec.parse({
    MEDIA_GRPC_PORT: '0',
    MEDIA_HTTP_PORT: '0',
    PARLEY_CASSANDRA_KEYSPACE: `media_${id}`,
    PARLEY_NAMESPACE: ns,
    PARLEY_KAFKA_TOPIC_PARTITIONS: '2',
    PARLEY_LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn',
    ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('PARLEY_MINIO_') || k === 'PARLEY_CASSANDRA_CONTACT_POINTS' || k === 'PARLEY_KAFKA_BROKERS') as Array<[string, string]>),
    ...env,
  });
  const members = new FakeMembers();
  const logger = createLogger('media-test', cfg.logLevel);
  // The message service creates chat.media.v1 in a mesh; here the test does.
  await ensureTopics(createKafka({ brokers: cfg.kafkaBrokers, clientId: 'media-test', logger }), [{ topic: nsTopic(ns, TOPICS.chatMedia), numPartitions: 2 }]);
  const svc = await MediaService.create(cfg, { logger, migrationsDir: join(__dirname, '..', 'migrations'), host: '127.0.0.1', members, sweeper: false });
  await svc.start();
  const client = createClient(mediaV1.MediaService, `127.0.0.1:${svc.grpcPort}`, { identity: testPki().identity('gateway'), deadlineMs: 20_000 });
  return {
    svc,
    cfg,
    client,
    members,
    ns,
    stop: async () => {
      client.close();
      await svc.destroy();
      // The shared Cassandra holds every suite's keyspaces in one heap: drop ours.
      const admin = createCassandra({ contactPoints: cfg.cassandraContactPoints, localDataCenter: cfg.cassandraDatacenter });
      await admin.execute(`DROP KEYSPACE IF EXISTS ${cfg.cassandraKeyspace}`).catch(() => {});
      await admin.shutdown();
    },
  };
}

export const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** The client's side of protocol.md §7.1: PUT the bytes with the headers the server asked for. */
export async function putBytes(url: string, headers: Record<string, string>, body: Buffer): Promise<{ status: number; text: string }> {
  const r = await fetch(url, { method: 'PUT', headers, body });
  return { status: r.status, text: await r.text() };
}
