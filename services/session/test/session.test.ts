// The session service through its gRPC API, against the real Cassandra, Redis and Kafka.
import { join } from 'node:path';
import { fromBinary } from '@bufbuild/protobuf';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { createClient, createCassandra, createLogger, createRedis, cassandraSettings, nsKey, type Client } from '@parley/kit';
import { eventsV1, sessionV1 } from '@parley/proto';
import { envSpec } from '../src/config.js';
import { SessionService } from '../src/service.js';
import { TokenIssuer } from '../src/domain/token-issuer.js';
import { KeysStore } from '../src/storage/keys-store.js';

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
  SESSION_SCRYPT_COST: '1024',
  SESSION_CONNECTION_TTL_SECONDS: '2',
});

beforeAll(async () => {
  svc = await SessionService.create(cfg, { migrationsDir: join(__dirname, '..', 'migrations'), logger });
  await svc.start();
  c = createClient(sessionV1.SessionService, `127.0.0.1:${svc.grpcPort}`, { deadlineMs: 10_000 });
}, 90_000);

afterAll(async () => {
  c?.close();
  await svc?.destroy();
});

const uname = (p: string) => `${p}_${Math.floor(Math.random() * 1e9).toString(36)}`.slice(0, 32);
async function account(): Promise<{ username: string; tokens: sessionV1.TokenPair }> {
  const username = uname('u');
  await c.createAccount({ username, password: 'password-123' });
  const { tokens } = await c.login({ username, password: 'password-123', deviceName: 'test' });
  return { username, tokens: tokens! };
}

describe('accounts', () => {
  it('gives a username to exactly one of many concurrent creators (LWT)', async () => {
    const username = uname('race');
    const results = await Promise.allSettled(Array.from({ length: 12 }, () => c.createAccount({ username, password: 'password-123' })));
    const ok = results.filter((r) => r.status === 'fulfilled');
    const taken = results.filter((r) => r.status === 'rejected' && (r.reason as { code: string }).code === 'username_taken');
    expect(ok).toHaveLength(1);
    expect(taken).toHaveLength(11);
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

  it('keeps tokens signed by the previous key valid after a rotation', async () => {
    const db = createCassandra(cassandraSettings(cfg));
    let now = Date.now();
    const opts = { issuer: cfg.jwtIssuer, audience: cfg.jwtAudience, accessTtlSeconds: 900, rotationMs: 3_600_000, now: () => now };
    const a = new TokenIssuer(new KeysStore(db), opts);
    await a.refresh();
    const oldKid = a.currentKid;
    now += 3_600_000 - 60_000; // a token signed a minute before the rotation is due…
    const token = (await a.signAccess('u1', 'd1')).token;
    now += 61_000; // …the rotation period passes
    const b = new TokenIssuer(new KeysStore(db), opts);
    await b.refresh();
    expect(b.currentKid).not.toBe(oldKid);
    const published = b.published();
    expect(published.map((k) => k.kid)).toEqual(expect.arrayContaining([oldKid, b.currentKid]));
    const jwks = createLocalJWKSet({ keys: published.map((k) => JSON.parse(k.publicJwk)) });
    await expect(jwtVerify(token, jwks, { issuer: cfg.jwtIssuer, audience: cfg.jwtAudience, currentDate: new Date(now) })).resolves.toBeTruthy();
    await db.shutdown();
  });
});

describe('devices and the live registry', () => {
  it('lists devices and removes one: tokens refused, its gateway told to close it', async () => {
    const { username, tokens } = await account();
    const second = (await c.login({ username, password: 'password-123', deviceName: 'phone' })).tokens!;
    const listed = (await c.listDevices({ userId: tokens.userId })).devices.map((d) => d.deviceId).sort();
    expect(listed).toEqual([tokens.deviceId, second.deviceId].sort());

    const sub = createRedis(cfg.redisUrl, { logger, name: 'sub', subscriber: true });
    const got = new Promise<eventsV1.GatewayDelivery>((ok) =>
      sub.on('messageBuffer', (_ch: Buffer, msg: Buffer) => ok(fromBinary(eventsV1.GatewayDeliverySchema, msg))),
    );
    await sub.subscribe(nsKey(run, 'parley:gw:gw-test-1'));
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

  it('resolves every device of hundreds of users in one call', async () => {
    const users = await Promise.all(Array.from({ length: 200 }, () => account()));
    const t0 = Date.now();
    const routes = (await c.getDeviceRoutes({ userIds: users.map((u) => u.tokens.userId) })).routes;
    const coldMs = Date.now() - t0;
    expect(routes).toHaveLength(200);
    expect(new Set(routes.map((r) => r.deviceId))).toEqual(new Set(users.map((u) => u.tokens.deviceId)));
    void coldMs;
  }, 60_000);
});
