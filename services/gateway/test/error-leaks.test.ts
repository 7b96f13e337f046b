// Errors never carry stack traces or internal details (protocol.md §6, issue 15), tested with fault-injected
// handlers: a real gateway (real Redis) in front of stand-in session and group gRPC servers (the kit's real
// gRPC server) whose handlers throw TypeErrors, internal errors naming secrets, and non-Error values.
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import WebSocket from 'ws';
import { ParleyError, createGrpcServer, createLogger, type GrpcServer } from '@parley/kit';
import { groupV1, sessionV1 } from '@parley/proto';
import { infraSettings, testPki } from '@parley/testing';
import { envToCfg } from '../src/config.js';
import { GatewayService } from '../src/wiring.js';

jest.setTimeout(60_000);
const logger = createLogger('leak-test', 'silent');
const SECRET = 'hunter2-db-password';
const boom = () => {
  throw new TypeError(`Cannot read properties of undefined (reading 'row') at /srv/parley/secret.ts:12:3 ${SECRET}`);
};

let session: GrpcServer;
let group: GrpcServer;
let gw: GatewayService;
let token: string;

beforeAll(async () => {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const jwk = JSON.stringify(await exportJWK(publicKey));
  token = await new SignJWT({ did: 'd_1' }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setSubject('u_1').setIssuer('parley').setAudience('parley').setIssuedAt().setExpirationTime('5m').sign(privateKey);
  session = createGrpcServer({ logger, identity: testPki().identity('session') });
  session.addService(sessionV1.SessionService, {
    createAccount: async () => boom(),
    login: async () => {
      throw new ParleyError('internal', `cassandra said: password=${SECRET}`, { cause: new Error('deep') });
    },
    refreshToken: async () => {
      throw `raw string with ${SECRET}`;
    },
    getUser: async () => boom(),
    getSigningKeys: async () => ({ keys: [{ kid: 'k1', alg: 'ES256', publicJwkJson: jwk, notAfter: 0n }], issuer: 'parley', audience: 'parley' }),
    checkDevice: async () => ({ active: true }),
    registerConnection: async () => ({}),
    unregisterConnection: async () => ({}),
    heartbeatConnections: async () => ({}),
  });
  group = createGrpcServer({ logger, identity: testPki().identity('group') });
  group.addService(groupV1.GroupService, { getChat: async () => boom(), listChats: async () => Promise.reject(new RangeError(`bad ${SECRET}`)) });
  const sessionPort = await session.listen('127.0.0.1', 0);
  const groupPort = await group.listen('127.0.0.1', 0);
  const ns = `leak${Date.now().toString(36)}`;
  process.env.PARLEY_MESH_TLS_DIR = testPki().dirOf('gateway');
  gw = await GatewayService.create(
    envToCfg({
      GATEWAY_HOST: '127.0.0.1',
      GATEWAY_PORT: '0',
      GATEWAY_SESSION_ADDR: `127.0.0.1:${sessionPort}`,
      GATEWAY_GROUP_ADDR: `127.0.0.1:${groupPort}`,
      PARLEY_REDIS_URL: infraSettings().redis.url,
      PARLEY_NAMESPACE: ns,
      GATEWAY_INSTANCE_ID: `${ns}-gw`,
    }),
    { logger },
  );
  await gw.start();
});

afterAll(async () => {
  await gw?.destroy();
  await session?.tryShutdown(2000);
  await group?.tryShutdown(2000);
});

function expectClean(text: string): void {
  expect(text).not.toContain(SECRET);
  expect(text).not.toMatch(/\bat .+:\d+:\d+/);
  expect(text).not.toMatch(/TypeError|RangeError|\.ts\b|node_modules|stack/);
}

it('HTTP routes whose upstream handler throws answer 500 internal with no detail', async () => {
  const base = `http://127.0.0.1:${gw.port}`;
  const calls: [string, string, unknown][] = [
    ['POST', '/v1/accounts', { username: 'alice_x', password: 'password-123' }],
    ['POST', '/v1/sessions', { username: 'alice_x', password: 'password-123' }],
    ['POST', '/v1/sessions/refresh', { refreshToken: 'x'.repeat(40) }],
    ['GET', '/v1/users/u_2', undefined],
  ];
  for (const [method, path, body] of calls) {
    const res = await fetch(base + path, {
      method,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    expect([path, res.status]).toEqual([path, 500]);
    expect(JSON.parse(text)).toEqual({ error: { code: 'internal', message: 'internal error' } });
    expectClean(text);
  }
});

it('WebSocket requests whose upstream handler throws get an internal error frame with no detail', async () => {
  const ws = new WebSocket(`ws://127.0.0.1:${gw.port}/v1/ws`, { headers: { authorization: `Bearer ${token}` } });
  const frames: string[] = [];
  ws.on('message', (d) => frames.push(d.toString()));
  await new Promise<void>((ok, fail) => {
    ws.once('open', () => ok());
    ws.once('error', fail);
  });
  ws.send(JSON.stringify({ id: 'a', op: 'chat.get', data: { chatId: 'g_1' } }));
  ws.send(JSON.stringify({ id: 'b', op: 'chat.list', data: {} }));
  const until = Date.now() + 15_000;
  const replies = () => frames.map((f) => JSON.parse(f) as { id?: string; ok?: boolean; error?: unknown }).filter((f) => f.id === 'a' || f.id === 'b');
  while (replies().length < 2 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  ws.terminate();
  expect(replies()).toHaveLength(2);
  for (const r of replies()) {
    expect(r.ok).toBe(false);
    expect(r.error).toEqual({ code: 'internal', message: 'internal error' });
  }
  for (const f of frames) expectClean(f);
});
