// The session service through its gRPC API, against the real Cassandra, Redis and Kafka.
import { join } from 'node:path';
import { fromBinary } from '@bufbuild/protobuf';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { ParleyError, TOPICS, createClient, createCassandra, createKafka, createLogger, createRedis, cassandraSettings, nsKey, nsTopic, type Client } from '@parley/kit';
import type { Consumer } from 'kafkajs';
import { eventsV1, sessionV1 } from '@parley/proto';
import { testPki } from '@parley/testing';
import { envSpec } from '../src/config.js';
import { SessionService } from '../src/wiring.js';
import { TokenIssuer } from '../src/domain/token-issuer.js';
import { KeysStore } from '../src/adapters/keys-store.js';

// jest does not apply the project's testTimeout here; account() hashes and runs LWTs, slow on a busy box.
jest.setTimeout(60_000);
const run = `s${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
const logger = createLogger('session-test', 'silent');
let svc: SessionService;
let c: Client<typeof sessionV1.SessionService>;
const cfg = envSpec.parse({
  ...process.env,
  PARLEY_CASSANDRA_KEYSPACE: `sess_${run}`,
  PARLEY_NAMESPACE: run,
  SESSION_HOST: '127.0.0.1',
  SESSION_GRPC_PORT: '0',
  SESSION_HTTP_PORT: '0',
  PARLEY_ENV: 'test',
  SESSION_SCRYPT_COST: '1024',
  SESSION_SCRYPT_PARALLELISM: '1',
  // Well inside the client's deadline below: what the pool refuses is retried by admitted().
  SESSION_HASH_MAX_WAIT_MS: '2000',
  SESSION_CONNECTION_TTL_SECONDS: '2',
});

beforeAll(async () => {
  // The service's mesh identity (mutual TLS, @parley/kit grpc); the test calls it as the gateway would.
  process.env.PARLEY_MESH_TLS_DIR = testPki().dirOf('session');
  svc = await SessionService.create(cfg, { migrationsDir: join(__dirname, '..', 'migrations'), logger });
  await svc.start();
  // 30 s: 128 concurrent sign-ups (hash + LWT each) on a busy shared box.
  c = createClient(sessionV1.SessionService, `127.0.0.1:${svc.grpcPort}`, { identity: testPki().identity('gateway'), deadlineMs: 30_000 });
}, 90_000);

afterAll(async () => {
  c?.close();
  await svc?.destroy();
}, 30_000);

const uname = (p: string) => `${p}_${Math.floor(Math.random() * 1e9).toString(36)}`.slice(0, 32);
/** Retries what the hashing pool refuses with rate_limited (one suite creates 128 accounts at once). */
async function admitted<T>(fn: () => Promise<T>): Promise<T> {
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      if (!(e instanceof ParleyError) || e.code !== 'rate_limited') throw e;
      await new Promise((r) => setTimeout(r, e.retryAfterMs ?? 100));
    }
  }
}

async function account(): Promise<{ username: string; tokens: sessionV1.TokenPair }> {
  const username = uname('u');
  await admitted(() => c.createAccount({ username, password: 'password-123' }));
  const { tokens } = await admitted(() => c.login({ username, password: 'password-123', deviceName: 'test' }));
  return { username, tokens: tokens! };
}

async function waitFor<T>(fn: () => Promise<T | undefined> | T | undefined, what: string, timeoutMs = 15_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Subscribes to the gateways' broadcast channel (revocations), as every gateway does, and collects what it receives. */
async function gatewayChannel(_gatewayId: string) {
  const sub = createRedis(cfg.redisUrl, { logger, name: 'sub', subscriber: true });
  const got: eventsV1.GatewayDelivery[] = [];
  sub.on('messageBuffer', (_ch: Buffer, msg: Buffer) => got.push(fromBinary(eventsV1.GatewayDeliverySchema, msg)));
  await sub.subscribe(nsKey(run, 'parley:gw-all'));
  return { got, close: () => sub.disconnect() };
}

describe('accounts', () => {
  it('gives a username to exactly one of many concurrent creators (LWT)', async () => {
    const username = uname('race');
    const results = await Promise.allSettled(Array.from({ length: 20 }, () => c.createAccount({ username, password: 'password-123' })));
    const ok = results.filter((r) => r.status === 'fulfilled');
    const taken = results.filter((r) => r.status === 'rejected' && (r.reason as { code: string }).code === 'username_taken');
    expect(ok).toHaveLength(1);
    expect(taken).toHaveLength(19);
    const found = await c.findUser({ username });
    expect(found.user?.userId).toBe((ok[0] as PromiseFulfilledResult<{ userId: string }>).value.userId);
  });

  it('validates usernames and passwords, naming the field', async () => {
    await expect(c.createAccount({ username: 'AB', password: 'password-123' })).rejects.toMatchObject({ code: 'bad_request', message: expect.stringMatching(/username/) });
    await expect(c.createAccount({ username: 'has space', password: 'password-123' })).rejects.toMatchObject({ code: 'bad_request' });
    await expect(c.createAccount({ username: uname('p'), password: 'short' })).rejects.toMatchObject({ code: 'bad_request', message: expect.stringMatching(/password/) });
    await expect(c.createAccount({ username: uname('p'), password: 'x'.repeat(257) })).rejects.toMatchObject({ code: 'bad_request' });
  });

  it('refuses a wrong password and an unknown user alike', async () => {
    const { username } = await account();
    await expect(c.login({ username, password: 'wrong-password' })).rejects.toMatchObject({ code: 'unauthorized', message: 'invalid username or password' });
    await expect(c.login({ username: uname('nobody'), password: 'wrong-password' })).rejects.toMatchObject({ code: 'unauthorized', message: 'invalid username or password' });
  });

  it('stores passwords only as salted scrypt hashes', async () => {
    const { tokens } = await account();
    const db = createCassandra(cassandraSettings(cfg));
    const row = (await db.execute('SELECT password_hash FROM users WHERE user_id = ?', [tokens.userId])).first();
    await db.shutdown();
    expect(row.get('password_hash')).toMatch(/^scrypt\$1024\$8\$1\$/);
    expect(row.get('password_hash')).not.toContain('password-123');
  });
});

describe('tokens', () => {
  it('issues ES256 access tokens that verify with the published keys', async () => {
    const { tokens } = await account();
    const keys = await c.getSigningKeys({});
    const jwks = createLocalJWKSet({ keys: keys.keys.map((k) => JSON.parse(k.publicJwkJson)) });
    const { payload, protectedHeader } = await jwtVerify(tokens.accessToken, jwks, { issuer: keys.issuer, audience: keys.audience });
    expect(protectedHeader.alg).toBe('ES256');
    expect(payload.sub).toBe(tokens.userId);
    expect(payload.did).toBe(tokens.deviceId);
    expect(keys.keys.every((k) => !JSON.parse(k.publicJwkJson).d)).toBe(true);
  });

  it('rotates refresh tokens on use and revokes the device when a used one comes back', async () => {
    const { tokens } = await account();
    const r1 = (await c.refreshToken({ refreshToken: tokens.refreshToken })).tokens!;
    expect(r1.deviceId).toBe(tokens.deviceId);
    expect(r1.refreshToken).not.toBe(tokens.refreshToken);
    const r2 = (await c.refreshToken({ refreshToken: r1.refreshToken })).tokens!;
    // The first token again: reuse. The whole family dies, including the newest token.
    await expect(c.refreshToken({ refreshToken: tokens.refreshToken })).rejects.toMatchObject({ code: 'unauthorized' });
    await expect(c.refreshToken({ refreshToken: r2.refreshToken })).rejects.toMatchObject({ code: 'unauthorized' });
    expect((await c.checkDevice({ userId: tokens.userId, deviceId: tokens.deviceId })).active).toBe(false);
  });

  it('keeps tokens signed by the previous key valid after another replica rotates, and signs with the new key', async () => {
    const before = await account();
    const oldKid = decodeProtectedHeader(before.tokens.accessToken).kid;
    // A second replica whose rotation period has passed: it makes a new key current (LWT on the pointer).
    const db = createCassandra(cassandraSettings(cfg));
    const other = new TokenIssuer(new KeysStore(db), { issuer: cfg.jwtIssuer, audience: cfg.jwtAudience, accessTtlSeconds: cfg.accessTokenTtlSeconds, rotationMs: 1 });
    await new Promise((r) => setTimeout(r, 5));
    await other.refresh();
    await db.shutdown();
    expect(other.currentKid).not.toBe(oldKid);

    // This replica publishes both at once: the new one as current, the old one until its last token expired.
    const keys = await c.getSigningKeys({});
    const byKid = new Map(keys.keys.map((k) => [k.kid, k]));
    expect(byKid.get(other.currentKid!)?.notAfter).toBe(0n);
    expect(Number(byKid.get(oldKid!)?.notAfter)).toBeGreaterThan(Date.now() + cfg.accessTokenTtlSeconds * 1000);
    const jwks = createLocalJWKSet({ keys: keys.keys.map((k) => JSON.parse(k.publicJwkJson)) });
    const { payload } = await jwtVerify(before.tokens.accessToken, jwks, { issuer: keys.issuer, audience: keys.audience });
    expect(payload.did).toBe(before.tokens.deviceId);

    // Nobody was logged out: the old device still refreshes, and new tokens carry the new kid.
    const refreshed = (await c.refreshToken({ refreshToken: before.tokens.refreshToken })).tokens!;
    expect(decodeProtectedHeader(refreshed.accessToken).kid).toBe(other.currentKid);
    await expect(jwtVerify(refreshed.accessToken, jwks, { issuer: keys.issuer, audience: keys.audience })).resolves.toBeTruthy();
  });

  it('revokes the device and closes its live connection when a used refresh token comes back', async () => {
    const { tokens } = await account();
    const gw = await gatewayChannel('gw-reuse');
    await c.registerConnection({ connection: { userId: tokens.userId, deviceId: tokens.deviceId, gatewayId: 'gw-reuse', connectionId: 'conn-r' } });
    await c.refreshToken({ refreshToken: tokens.refreshToken });
    await expect(c.refreshToken({ refreshToken: tokens.refreshToken })).rejects.toMatchObject({ code: 'unauthorized' });
    const d = await waitFor(() => gw.got[0], 'DeviceRevoked delivery');
    gw.close();
    expect(d.payload).toMatchObject({ case: 'deviceRevoked', value: { userId: tokens.userId, deviceId: tokens.deviceId, reason: 'refresh_token_reuse' } });
    expect(d.targets).toEqual([expect.objectContaining({ userId: tokens.userId, deviceId: tokens.deviceId })]);
    expect((await c.checkDevice({ userId: tokens.userId, deviceId: tokens.deviceId })).active).toBe(false);
    // And it cannot come back: registering a connection for it is refused.
    await expect(
      c.registerConnection({ connection: { userId: tokens.userId, deviceId: tokens.deviceId, gatewayId: 'gw-reuse', connectionId: 'conn-r2' } }),
    ).rejects.toMatchObject({ code: 'unauthorized' });
  });
});

describe('devices and the live registry', () => {
  it('lists devices and removes one: tokens refused, every gateway told to close it', async () => {
    const { username, tokens } = await account();
    const second = (await c.login({ username, password: 'password-123', deviceName: 'phone' })).tokens!;
    const listed = (await c.listDevices({ userId: tokens.userId })).devices.map((d) => d.deviceId).sort();
    expect(listed).toEqual([tokens.deviceId, second.deviceId].sort());

    const sub = createRedis(cfg.redisUrl, { logger, name: 'sub', subscriber: true });
    const got = new Promise<eventsV1.GatewayDelivery>((ok) =>
      sub.on('messageBuffer', (_ch: Buffer, msg: Buffer) => ok(fromBinary(eventsV1.GatewayDeliverySchema, msg))),
    );
    await sub.subscribe(nsKey(run, 'parley:gw-all'));
    await c.registerConnection({ connection: { userId: tokens.userId, deviceId: second.deviceId, gatewayId: 'gw-test-1', connectionId: 'conn-1' } });
    await c.removeDevice({ userId: tokens.userId, deviceId: second.deviceId });
    const delivery = await got;
    sub.disconnect();
    expect(delivery.payload.case).toBe('deviceRevoked');
    expect(delivery.targets[0]?.deviceId).toBe(second.deviceId);
    expect((await c.checkDevice({ userId: tokens.userId, deviceId: second.deviceId })).active).toBe(false);
    await expect(c.refreshToken({ refreshToken: second.refreshToken })).rejects.toMatchObject({ code: 'unauthorized' });
    expect((await c.listDevices({ userId: tokens.userId })).devices.map((d) => d.deviceId)).toEqual([tokens.deviceId]);
    // A user cannot remove someone else's device.
    const other = await account();
    await expect(c.removeDevice({ userId: other.tokens.userId, deviceId: tokens.deviceId })).rejects.toMatchObject({ code: 'not_found' });
  });

  it('registers a burst of connections in one RegisterConnections call: each answered on its own, last seen written', async () => {
    const users = await Promise.all([account(), account(), account(), account()]);
    const [keep, gone, second, third] = users;
    const extra = (await c.login({ username: keep!.username, password: 'password-123', deviceName: 'tablet' })).tokens!;
    await c.removeDevice({ userId: gone!.tokens.userId, deviceId: gone!.tokens.deviceId });
    const before = Date.now();
    await new Promise((r) => setTimeout(r, 5));
    const conn = (t: sessionV1.TokenPair, id: string) => ({ userId: t.userId, deviceId: t.deviceId, gatewayId: 'gw-burst', connectionId: id });
    const connections = [
      conn(keep!.tokens, 'b1'),
      conn(gone!.tokens, 'b2'),
      conn(extra, 'b3'),
      { ...conn(second!.tokens, 'b4'), deviceId: 'forged-device' },
      conn(second!.tokens, 'b5'),
      { ...conn(third!.tokens, 'b6'), connectionId: '' },
      conn(third!.tokens, 'b7'),
    ];
    // Several calls at once, so the stores' group commits see concurrent reads and writes.
    const [res, again] = await Promise.all([c.registerConnections({ connections }), c.registerConnections({ connections: [conn(keep!.tokens, 'b1')] })]);
    expect(res.results.map((r) => r.errorCode)).toEqual(['', 'unauthorized', '', 'unauthorized', '', 'bad_request', '']);
    expect(again.results.map((r) => r.errorCode)).toEqual(['']);
    const routes = (await c.getDeviceRoutes({ userIds: users.map((u) => u.tokens.userId) })).routes;
    const live = (deviceId: string) => routes.find((r) => r.deviceId === deviceId);
    expect(live(keep!.tokens.deviceId)).toMatchObject({ online: true, connectionId: 'b1' });
    expect(live(extra.deviceId)).toMatchObject({ online: true, connectionId: 'b3' });
    expect(live(second!.tokens.deviceId)).toMatchObject({ online: true, connectionId: 'b5' });
    expect(live(third!.tokens.deviceId)).toMatchObject({ online: true, connectionId: 'b7' });
    expect(live(gone!.tokens.deviceId)).toBeUndefined();
    const seen = (await c.listDevices({ userId: keep!.tokens.userId })).devices.map((d) => Number(d.lastSeenAt));
    expect(seen.every((t) => t > before)).toBe(true);
    await expect(c.registerConnections({ connections: Array.from({ length: 1001 }, (_, i) => conn(keep!.tokens, `x${i}`)) })).rejects.toMatchObject({ code: 'bad_request' });
  });

  it('expires connections without heartbeats and keeps them with heartbeats', async () => {
    const a = await account();
    const b = await account();
    const conn = (t: sessionV1.TokenPair, id: string) => ({ userId: t.userId, deviceId: t.deviceId, gatewayId: 'gw-x', connectionId: id });
    await c.registerConnection({ connection: conn(a.tokens, 'ca') });
    await c.registerConnection({ connection: conn(b.tokens, 'cb') });
    for (let i = 0; i < 4; i++) {
      await new Promise((r) => setTimeout(r, 800));
      await c.heartbeatConnections({ gatewayId: 'gw-x', connections: [conn(a.tokens, 'ca')] });
    }
    const routes = (await c.getDeviceRoutes({ userIds: [a.tokens.userId, b.tokens.userId] })).routes;
    expect(routes.find((r) => r.userId === a.tokens.userId)).toMatchObject({ online: true, gatewayId: 'gw-x', connectionId: 'ca' });
    expect(routes.find((r) => r.userId === b.tokens.userId)).toMatchObject({ online: false });
  });

  it('ignores a late unregister from an older connection of the same device', async () => {
    const a = await account();
    const base = { userId: a.tokens.userId, deviceId: a.tokens.deviceId };
    await c.registerConnection({ connection: { ...base, gatewayId: 'gw-old', connectionId: 'old' } });
    await c.registerConnection({ connection: { ...base, gatewayId: 'gw-new', connectionId: 'new' } });
    await c.unregisterConnection({ connection: { ...base, gatewayId: 'gw-old', connectionId: 'old' } });
    const routes = (await c.getDeviceRoutes({ userIds: [a.tokens.userId] })).routes;
    expect(routes).toEqual([expect.objectContaining({ online: true, gatewayId: 'gw-new', connectionId: 'new' })]);
  });

  it('never lets a late heartbeat of an old connection overwrite a reconnect elsewhere, and re-creates lost entries', async () => {
    const a = await account();
    const base = { userId: a.tokens.userId, deviceId: a.tokens.deviceId };
    await c.registerConnection({ connection: { ...base, gatewayId: 'gw-old', connectionId: 'old' } });
    await c.registerConnection({ connection: { ...base, gatewayId: 'gw-new', connectionId: 'new' } });
    await c.heartbeatConnections({ gatewayId: 'gw-old', connections: [{ ...base, gatewayId: 'gw-old', connectionId: 'old' }] });
    expect((await c.getDeviceRoutes({ userIds: [base.userId] })).routes).toEqual([expect.objectContaining({ online: true, gatewayId: 'gw-new', connectionId: 'new' })]);
    // Redis lost the entry (restart): the holder's next heartbeat puts it back.
    const r = createRedis(cfg.redisUrl, { logger, name: 'probe' });
    await r.del(nsKey(run, `parley:conn:${base.deviceId}`));
    r.disconnect();
    expect((await c.getDeviceRoutes({ userIds: [base.userId] })).routes[0]).toMatchObject({ online: false });
    await c.heartbeatConnections({ gatewayId: 'gw-new', connections: [{ ...base, gatewayId: 'gw-new', connectionId: 'new' }] });
    expect((await c.getDeviceRoutes({ userIds: [base.userId] })).routes[0]).toMatchObject({ online: true, gatewayId: 'gw-new', connectionId: 'new' });
  });

  it('keeps the cached device sets coherent with logins, removals and a lost cache', async () => {
    const a = await account();
    const userId = a.tokens.userId;
    const ids = async () => (await c.getDeviceRoutes({ userIds: [userId] })).routes.map((r) => r.deviceId).sort();
    expect(await ids()).toEqual([a.tokens.deviceId]); // cached now
    const second = (await c.login({ username: a.username, password: 'password-123' })).tokens!;
    expect(await ids()).toEqual([a.tokens.deviceId, second.deviceId].sort());
    await c.removeDevice({ userId, deviceId: a.tokens.deviceId });
    expect(await ids()).toEqual([second.deviceId]);
    const r = createRedis(cfg.redisUrl, { logger, name: 'probe' });
    await r.del(nsKey(run, `parley:udev:{${userId}}`));
    r.disconnect();
    expect(await ids()).toEqual([second.deviceId]); // rebuilt from Cassandra, without the removed device
    // A user with no devices is a cached answer too, and unknown users simply have no routes.
    const lonely = uname('lonely');
    const { userId: lonelyId } = await c.createAccount({ username: lonely, password: 'password-123' });
    expect((await c.getDeviceRoutes({ userIds: [lonelyId, lonelyId, 'u_nobody'] })).routes).toEqual([]);
  });

  it('publishes CONNECTED, DISCONNECTED and DEVICE_REMOVED on session.events.v1, keyed by userId', async () => {
    const kafka = createKafka({ brokers: cfg.kafkaBrokers, clientId: 'session-test', logger });
    const topic = nsTopic(run, TOPICS.sessionEvents);
    const admin = kafka.admin();
    await admin.connect();
    await waitFor(async () => (await admin.listTopics()).includes(topic) || undefined, 'the service to create its topic');
    await admin.disconnect();
    const got: { key: string; ev: eventsV1.SessionEvent }[] = [];
    const consumer: Consumer = kafka.consumer({ groupId: `${run}.session-test` });
    try {
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      await consumer.run({
        eachMessage: async ({ message }) => {
          got.push({ key: message.key!.toString(), ev: fromBinary(eventsV1.SessionEventSchema, message.value!) });
        },
      });
      const a = await account();
      const conn = { userId: a.tokens.userId, deviceId: a.tokens.deviceId, gatewayId: 'gw-ev', connectionId: 'conn-ev' };
      await c.registerConnection({ connection: conn });
      await c.unregisterConnection({ connection: { ...conn, connectionId: 'someone-else' } }); // not ours: no event
      await c.unregisterConnection({ connection: conn });
      await c.removeDevice({ userId: conn.userId, deviceId: conn.deviceId });
      const mine = () => got.filter((g) => g.ev.deviceId === conn.deviceId);
      await waitFor(() => mine().length >= 3 || undefined, 'three session events', 30_000);
      await new Promise((r) => setTimeout(r, 300));
      const K = eventsV1.SessionEventKind;
      expect(mine().map((g) => g.ev.kind)).toEqual([K.CONNECTED, K.DISCONNECTED, K.DEVICE_REMOVED]);
      expect(mine().every((g) => g.key === conn.userId && g.ev.userId === conn.userId)).toBe(true);
      expect(mine()[0]!.ev).toMatchObject({ gatewayId: 'gw-ev', connectionId: 'conn-ev' });
      expect(Number(mine()[0]!.ev.at)).toBeGreaterThan(Date.now() - 60_000);
    } finally {
      await consumer.disconnect();
    }
  }, 60_000);

  it('resolves every device of 1,024 users in one call, online ones with their gateway', async () => {
    const users: { username: string; tokens: sessionV1.TokenPair }[] = [];
    for (let i = 0; i < 1024; i += 128) users.push(...(await Promise.all(Array.from({ length: 128 }, () => account()))));
    // Every 4th user has a second device; every 3rd user's first device is online.
    const extra = await Promise.all(users.filter((_, i) => i % 4 === 0).map(async (u) => (await admitted(() => c.login({ username: u.username, password: 'password-123' }))).tokens!));
    const online = users.filter((_, i) => i % 3 === 0);
    // (Re)registered right before each lookup, as a live gateway's heartbeat would: this suite runs with a 2 s
    // connection TTL, which a loaded box can outlast between one registration and the check.
    const register = () =>
      Promise.all(
        online.map((u, i) =>
          c.registerConnection({ connection: { userId: u.tokens.userId, deviceId: u.tokens.deviceId, gatewayId: `gw-${i % 2}`, connectionId: `c-${u.tokens.deviceId}` } }),
        ),
      );
    await register();
    const expectedDevices = new Set([...users.map((u) => u.tokens.deviceId), ...extra.map((t) => t.deviceId)]);
    const onlineDevices = new Set(online.map((u) => u.tokens.deviceId));
    const check = (routes: sessionV1.DeviceRoute[]) => {
      expect(routes).toHaveLength(expectedDevices.size);
      expect(new Set(routes.map((r) => r.deviceId))).toEqual(expectedDevices);
      for (const r of routes) {
        expect(r.online).toBe(onlineDevices.has(r.deviceId));
        if (r.online) expect(r.connectionId).toBe(`c-${r.deviceId}`);
      }
    };
    const userIds = users.map((u) => u.tokens.userId);
    check((await c.getDeviceRoutes({ userIds })).routes); // cold or partly cached
    await register();
    check((await c.getDeviceRoutes({ userIds })).routes); // warm: Redis only
  }, 120_000);
});
