// Quick SendMessage benchmark (not a test): the built service (dist/) against the real Cassandra, Kafka and
// Redis, with in-process GroupService/SessionService stand-ins. Build first: pnpm exec tsc --build services/message
//   node services/message/scripts/bench-send.mjs [sends=1000] [concurrency=64]
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { create } from '@bufbuild/protobuf';
import { createClient, createGrpcServer, createLogger } from '@parley/kit';
import { commonV1, groupV1, messageV1, sessionV1 } from '@parley/proto';
import { envSpec } from '../dist/config.js';
import { MessageService } from '../dist/wiring.js';

const N = Number(process.argv[2] ?? 1000);
const CONC = Number(process.argv[3] ?? 64);
const logger = createLogger('bench', 'warn');
const users = Array.from({ length: 8 }, (_, i) => `user-${i}`);

// Stand-ins: every chat has the 8 users; nobody is online (fan-out does its full work but delivers to push).
const group = createGrpcServer({ logger });
group.addService(groupV1.GroupService, {
  getMembers: async (req) =>
    create(groupV1.GetMembersResponseSchema, {
      type: commonV1.ChatType.GROUP,
      members: users.map((userId) => ({ chatId: req.chatId, userId, role: commonV1.MemberRole.MEMBER, joinedSeq: 1n, leftSeq: 0n, pending: false })),
    }),
  listMemberships: async () => create(groupV1.ListMembershipsResponseSchema, {}),
});
const session = createGrpcServer({ logger });
session.addService(sessionV1.SessionService, {
  getDeviceRoutes: async (req) => create(sessionV1.GetDeviceRoutesResponseSchema, { routes: req.userIds.map((userId) => ({ userId, deviceId: `${userId}-d`, online: true, gatewayId: 'gw-bench', connectionId: 'c' })) }),
});
const gp = await group.listen('127.0.0.1', 0);
const sp = await session.listen('127.0.0.1', 0);

const id = randomBytes(4).toString('hex');
const cfg = envSpec.parse({
  ...process.env,
  MESSAGE_GRPC_PORT: '0',
  MESSAGE_HTTP_PORT: '0',
  MESSAGE_GROUP_ADDR: `127.0.0.1:${gp}`,
  MESSAGE_SESSION_ADDR: `127.0.0.1:${sp}`,
  PARLEY_CASSANDRA_KEYSPACE: `msgbench_${id}`,
  PARLEY_NAMESPACE: `bench${id}`,
  PARLEY_LOG_LEVEL: 'warn',
});
const svc = await MessageService.create(cfg, { logger, migrationsDir: fileURLToPath(new URL('../migrations', import.meta.url)), host: '127.0.0.1' });
await svc.start();
const client = createClient(messageV1.MessageService, `127.0.0.1:${svc.grpcPort}`, { deadlineMs: 30_000 });

const pct = (xs, p) => xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];
async function run(name, chats, n, conc) {
  const lat = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: conc }, async () => {
      for (;;) {
        const i = next++;
        if (i >= n) return;
        const s = performance.now();
        await client.sendMessage({
          userId: users[i % users.length],
          deviceId: 'bench-device',
          chatId: chats[i % chats.length],
          clientMsgId: `bench-${name}-${i}-${id}`,
          body: { content: { case: 'text', value: `message ${i} ${'x'.repeat(100)}` } },
        });
        lat.push(performance.now() - s);
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  const row = { scenario: name, sends: n, concurrency: conc, seconds: +secs.toFixed(2), perSec: Math.round(n / secs), p50ms: +pct(lat, 50).toFixed(1), p95ms: +pct(lat, 95).toFixed(1), p99ms: +pct(lat, 99).toFixed(1), maxMs: +lat[lat.length - 1].toFixed(1) };
  console.log(JSON.stringify(row));
  return row;
}

await run('warmup', ['warm'], 200, 16);
await run('one-chat-sequential', [`solo-${id}`], Math.min(N, 300), 1);
await run('one-chat', [`hot-${id}`], N, CONC);
await run('100-chats', Array.from({ length: 100 }, (_, i) => `c${i}-${id}`), N, CONC);
// Verify the hot chat is gap-free.
const heads = await client.getChatHeads({ chatIds: [`hot-${id}`] });
console.log(JSON.stringify({ hotChatHead: String(heads.heads[0]?.lastSeq), expected: N }));

client.close();
await svc.destroy();
await Promise.all([group.shutdown(1000), session.shutdown(1000)]);
const { createCassandra } = await import('@parley/kit');
const cql = createCassandra({ contactPoints: cfg.cassandraContactPoints, localDataCenter: cfg.cassandraDatacenter, keyspace: 'system' });
await cql.execute(`DROP KEYSPACE IF EXISTS ${cfg.cassandraKeyspace}`).catch(() => {});
await cql.shutdown();
process.exit(0);
