// Mutual TLS on the gRPC bridge (issue 15): a server refuses clients without a certificate from the mesh CA,
// refuses identities that may not call it (PERMISSION_DENIED), a client refuses a server that is not the
// service it meant to call, and no server or client starts without an identity.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { createPki } from '@parley/testing';
import { sessionV1, testingV1 } from '@parley/proto';
import {
  MESH_CALLS,
  MeshIdentityError,
  ParleyError,
  callersOf,
  createClient,
  createGrpcServer,
  createMetrics,
  loadMeshIdentity,
  meshIdentityFromEnv,
  methodPath,
  serviceIdentityOf,
  type GrpcServer,
} from '../src/index.js';
import { logger, pki } from './support.js';

const tmp = mkdtempSync(join(tmpdir(), 'parley-mesh-id-'));
// Another CA with the same names: a certificate that says "gateway" but that the mesh never issued.
const foreign = createPki(join(tmp, 'foreign'), ['gateway', 'session']);
const metrics = createMetrics('mesh-id-test', { defaultMetrics: false });
let server: GrpcServer;
let addr: string;
const callers: string[] = [];

beforeAll(async () => {
  // A real-shaped server: identity `session`, so its callers come from MESH_CALLS.
  server = createGrpcServer({ logger, metrics, identity: pki.identity('session') });
  server.addService(sessionV1.SessionService, {
    getUsers: async (req, ctx) => {
      callers.push(ctx.caller);
      return { users: req.userIds.map((userId) => ({ userId, displayName: userId })) };
    },
  });
  server.health.set('', 'SERVING');
  addr = `127.0.0.1:${await server.listen('127.0.0.1', 0)}`;
});

afterAll(async () => {
  await server.shutdown(1000);
  rmSync(tmp, { recursive: true, force: true });
});

const codeOf = async (p: Promise<unknown>): Promise<string> => {
  try {
    await p;
    return 'ok';
  } catch (err) {
    return err instanceof ParleyError ? err.code : `not a ParleyError: ${String(err)}`;
  }
};

test('the call graph: who may call session, message, push', () => {
  expect(callersOf('session')).toEqual(['gateway', 'group', 'message', 'presence', 'push']);
  expect(callersOf('message')).toEqual(['gateway', 'group', 'message', 'presence']);
  expect(callersOf('push')).toEqual(['gateway']);
  expect(callersOf('gateway')).toEqual([]);
  expect(Object.keys(MESH_CALLS).sort()).toEqual(['gateway', 'group', 'media', 'message', 'presence', 'push', 'session']);
  expect(serviceIdentityOf(sessionV1.SessionService.typeName)).toBe('session');
  expect(serviceIdentityOf(testingV1.EchoService.typeName)).toBeUndefined();
});

test('an admitted caller gets through, and the handler sees its identity', async () => {
  for (const name of ['gateway', 'group', 'message', 'presence', 'push']) {
    const c = createClient(sessionV1.SessionService, addr, { identity: pki.identity(name), deadlineMs: 5000 });
    const res = await c.getUsers({ userIds: ['u1'] });
    expect(res.users.map((u) => u.userId)).toEqual(['u1']);
    c.close();
  }
  expect(callers.slice(-5)).toEqual(['gateway', 'group', 'message', 'presence', 'push']);
});

test('a valid certificate for a service that does not call session is PERMISSION_DENIED', async () => {
  callers.length = 0;
  for (const name of ['media', 'session', 'stranger']) {
    const c = createClient(sessionV1.SessionService, addr, { identity: pki.identity(name), deadlineMs: 5000 });
    const err = (await c.getUsers({ userIds: ['u1'] }).catch((e: unknown) => e)) as ParleyError;
    expect([name, err.code, err.message]).toEqual([name, 'forbidden', `mesh identity "${name}" may not call session`]);
    c.close();
  }
  expect(callers).toEqual([]); // the handler never ran
  const denied = await metrics.registry.getSingleMetricAsString('parley_grpc_server_denied_total');
  expect(denied).toMatch(/parley_grpc_server_denied_total\{[^}]*caller="media"[^}]*\} 1/);
  // The raw status is PERMISSION_DENIED (7), not a transport error.
  const id = pki.identity('media');
  const raw = new grpc.Client(addr, grpc.credentials.createSsl(id.ca, id.key, id.cert, { checkServerIdentity: () => undefined }));
  const status = await new Promise<number>((ok) => {
    const m = sessionV1.SessionService.method.getUsers;
    raw.makeUnaryRequest(methodPath(sessionV1.SessionService, m), () => Buffer.alloc(0), (b: Buffer) => b, {}, (err) => ok(err?.code ?? 0));
  });
  raw.close();
  expect(status).toBe(grpc.status.PERMISSION_DENIED);
});

test('no client certificate, a plaintext client, or a certificate from another CA: refused before any handler', async () => {
  callers.length = 0;
  const id = pki.identity('gateway');
  const path = methodPath(sessionV1.SessionService, sessionV1.SessionService.method.getUsers);
  const attempt = (creds: grpc.ChannelCredentials) =>
    new Promise<number>((ok) => {
      const c = new grpc.Client(addr, creds);
      c.makeUnaryRequest(path, () => Buffer.alloc(0), (b: Buffer) => b, {}, { deadline: Date.now() + 3000 }, (err) => {
        c.close();
        ok(err?.code ?? 0);
      });
    });
  // TLS that trusts the mesh CA but presents no certificate.
  expect(await attempt(grpc.credentials.createSsl(id.ca, null, null, { checkServerIdentity: () => undefined }))).toBe(grpc.status.UNAVAILABLE);
  expect(await attempt(grpc.credentials.createInsecure())).toBe(grpc.status.UNAVAILABLE);
  const f = foreign.identity('gateway');
  expect(await attempt(grpc.credentials.createSsl(id.ca, f.key, f.cert, { checkServerIdentity: () => undefined }))).toBe(grpc.status.UNAVAILABLE);
  // Through the kit: a whole foreign identity (its own CA) cannot reach the mesh either way.
  const c = createClient(sessionV1.SessionService, addr, { identity: f, deadlineMs: 3000 });
  expect(await codeOf(c.getUsers({ userIds: ['u1'] }))).toBe('unavailable');
  c.close();
  expect(callers).toEqual([]);
});

test('a client refuses a server whose certificate is another service, or from another CA', async () => {
  // A server holding the `media` identity, serving SessionService: a session client must not talk to it.
  const impostor = createGrpcServer({ logger, identity: pki.identity('media'), allowedCallers: ['gateway'] });
  let served = 0;
  impostor.addService(sessionV1.SessionService, { getUsers: async () => (served++, { users: [] }) });
  const p = await impostor.listen('127.0.0.1', 0);
  const foreignServer = createGrpcServer({ logger, identity: foreign.identity('session') });
  foreignServer.addService(sessionV1.SessionService, { getUsers: async () => (served++, { users: [] }) });
  const fp = await foreignServer.listen('127.0.0.1', 0);
  try {
    const c = createClient(sessionV1.SessionService, `127.0.0.1:${p}`, { identity: pki.identity('gateway'), deadlineMs: 3000 });
    expect(await codeOf(c.getUsers({ userIds: [] }))).toBe('unavailable');
    c.close();
    const c2 = createClient(sessionV1.SessionService, `127.0.0.1:${fp}`, { identity: pki.identity('gateway'), deadlineMs: 3000 });
    expect(await codeOf(c2.getUsers({ userIds: [] }))).toBe('unavailable');
    c2.close();
    // `server` names the identity explicitly: the same impostor is accepted when media is who we meant.
    const c3 = createClient(sessionV1.SessionService, `127.0.0.1:${p}`, { identity: pki.identity('gateway'), server: 'media', deadlineMs: 3000 });
    expect(await codeOf(c3.getUsers({ userIds: [] }))).toBe('ok');
    c3.close();
    expect(served).toBe(1);
  } finally {
    await impostor.shutdown(500);
    await foreignServer.shutdown(500);
  }
});

test('no identity, no server and no client; a broken identity directory fails loudly', () => {
  const saved = process.env.PARLEY_MESH_TLS_DIR;
  delete process.env.PARLEY_MESH_TLS_DIR;
  try {
    expect(() => createGrpcServer({ logger })).toThrow(/PARLEY_MESH_TLS_DIR is not set/);
    expect(() => createClient(sessionV1.SessionService, addr)).toThrow(MeshIdentityError);
    expect(() => meshIdentityFromEnv({})).toThrow(/PARLEY_MESH_TLS_DIR is not set/);
  } finally {
    if (saved !== undefined) process.env.PARLEY_MESH_TLS_DIR = saved;
  }
  expect(loadMeshIdentity(pki.dirOf('push')).name).toBe('push');
  expect(() => loadMeshIdentity(join(tmp, 'nowhere'))).toThrow(/cannot read ca\.crt \(ENOENT\)/);
  // tls.crt from one CA, ca.crt from another.
  const mixed = join(tmp, 'mixed');
  rmSync(mixed, { recursive: true, force: true });
  const m = pki.identity('gateway');
  const f = foreign.identity('gateway');
  mkdirSync(mixed);
  writeFileSync(join(mixed, 'ca.crt'), f.ca);
  writeFileSync(join(mixed, 'tls.crt'), m.cert);
  writeFileSync(join(mixed, 'tls.key'), m.key);
  expect(() => loadMeshIdentity(mixed)).toThrow(/tls\.crt is not signed by ca\.crt/);
  writeFileSync(join(mixed, 'ca.crt'), m.ca);
  writeFileSync(join(mixed, 'tls.key'), f.key);
  expect(() => loadMeshIdentity(mixed)).toThrow(/tls\.key does not belong to tls\.crt/);
  // A server identity outside the call graph must say whom it admits.
  expect(() => createGrpcServer({ logger, identity: pki.identity('stranger') })).toThrow(/not a mesh service/);
});
