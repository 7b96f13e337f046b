// Quick measurement (not a test): GetDeviceRoutes for 1,024 users through the gRPC API of the built service
// (dist/), against the real Cassandra and Redis. Build first: pnpm exec tsc --build services/session
//   node services/session/scripts/measure-routes.mjs [users=1024] [warmCalls=200]
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { createClient, createLogger, createRedis, nsKey } from '@parley/kit';
import { sessionV1 } from '@parley/proto';
import { envSpec } from '../dist/config.js';
import { SessionService } from '../dist/wiring.js';

const USERS = Number(process.argv[2] ?? 1024);
const WARM = Number(process.argv[3] ?? 200);
const logger = createLogger('measure', 'warn');
const id = randomBytes(4).toString('hex');
const ns = `meas${id}`;
const cfg = envSpec.parse({
  ...process.env,
  SESSION_HOST: '127.0.0.1',
  SESSION_GRPC_PORT: '0',
  SESSION_HTTP_PORT: '0',
  SESSION_SCRYPT_COST: '1024',
  PARLEY_CASSANDRA_KEYSPACE: `sessmeas_${id}`,
  PARLEY_NAMESPACE: ns,
  PARLEY_LOG_LEVEL: 'warn',
});
const svc = await SessionService.create(cfg, { logger, migrationsDir: fileURLToPath(new URL('../migrations', import.meta.url)) });
await svc.start();
const c = createClient(sessionV1.SessionService, `127.0.0.1:${svc.grpcPort}`, { deadlineMs: 30_000 });
const redis = createRedis(cfg.redisUrl, { logger, name: 'measure' });

const pct = (xs, p) => xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];
const fmt = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return `p50 ${pct(s, 50).toFixed(2)} ms, p95 ${pct(s, 95).toFixed(2)} ms, p99 ${pct(s, 99).toFixed(2)} ms, max ${s.at(-1).toFixed(2)} ms (n=${s.length})`;
};

// Population: USERS users; every 4th has a second device; every 3rd user's first device is online on one of 2 gateways.
console.log(`setting up ${USERS} users…`);
const users = [];
for (let i = 0; i < USERS; i += 128) {
  users.push(
    ...(await Promise.all(
      Array.from({ length: Math.min(128, USERS - i) }, async (_, j) => {
        const username = `m${id}_${i + j}`;
        await c.createAccount({ username, password: 'password-123' });
        const { tokens } = await c.login({ username, password: 'password-123' });
        return { username, tokens };
      }),
    )),
  );
}
await Promise.all(users.filter((_, i) => i % 4 === 0).map((u) => c.login({ username: u.username, password: 'password-123' })));
await Promise.all(
  users
    .filter((_, i) => i % 3 === 0)
    .map((u, i) => c.registerConnection({ connection: { userId: u.tokens.userId, deviceId: u.tokens.deviceId, gatewayId: `gw-${i % 2}`, connectionId: `c${i}` } })),
);
const userIds = users.map((u) => u.tokens.userId);
const dropCache = async () => {
  const p = redis.pipeline();
  for (const u of userIds) p.del(nsKey(ns, `parley:udev:{${u}}`));
  await p.exec();
};

const time = async (fn) => {
  const t = performance.now();
  const r = await fn();
  return [performance.now() - t, r];
};

const cold = [];
let routes = 0;
for (let i = 0; i < 5; i++) {
  await dropCache();
  const [ms, r] = await time(() => c.getDeviceRoutes({ userIds }));
  cold.push(ms);
  routes = r.routes.length;
}
const warm = [];
for (let i = 0; i < WARM; i++) warm.push((await time(() => c.getDeviceRoutes({ userIds })))[0]);
// Throughput with 8 concurrent callers (fan-out workers).
const t0 = performance.now();
let done = 0;
await Promise.all(
  Array.from({ length: 8 }, async () => {
    while (done < WARM) {
      done++;
      await c.getDeviceRoutes({ userIds });
    }
  }),
);
const tput = (done / (performance.now() - t0)) * 1000;
const check = [];
for (let i = 0; i < 500; i++) {
  const u = users[i % users.length];
  check.push((await time(() => c.checkDevice({ userId: u.tokens.userId, deviceId: u.tokens.deviceId })))[0]);
}

console.log(`GetDeviceRoutes, ${USERS} users -> ${routes} routes (${users.filter((_, i) => i % 3 === 0).length} online)`);
console.log(`  cold (device sets read from Cassandra): ${fmt(cold)}`);
console.log(`  warm (Redis only, 2 pipelined round trips): ${fmt(warm)}`);
console.log(`  warm, 8 concurrent callers: ${tput.toFixed(0)} calls/s`);
console.log(`CheckDevice (one Cassandra partition read): ${fmt(check)}`);

c.close();
redis.disconnect();
await svc.destroy();
process.exit(0);
