// The internal gRPC mesh is not trusted by default (issue 15): every real service of a running mesh refuses a
// caller without a client certificate from the mesh CA (plaintext, TLS without a certificate, a certificate from
// another CA), answers PERMISSION_DENIED to a valid certificate of a service that does not call it (the kit's
// MESH_CALLS, the chart's NetworkPolicy graph), and serves the callers it lists. A real user's data is the
// target: what the gateway may read, a pod with the wrong identity may not.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { signUp } from '@parley/client';
import { ParleyError, callersOf, createClient, methodPath } from '@parley/kit';
import { groupV1, mediaV1, messageV1, presenceV1, pushV1, sessionV1 } from '@parley/proto';
import { createPki, startMesh, type Mesh, type Pki } from '@parley/testing';

let mesh: Mesh;
let foreign: Pki;
const tmp = mkdtempSync(join(tmpdir(), 'parley-e2e-mesh-id-'));
let userId = '';

beforeAll(async () => {
  foreign = createPki(join(tmp, 'foreign'), ['gateway', 'group', 'message', 'presence']);
  mesh = await startMesh({ gateways: 1, env: { PARLEY_LOG_LEVEL: 'warn' } });
  userId = (await signUp(mesh.gatewayUrls[0]!)).userId;
}, 180_000);

afterAll(async () => {
  await mesh?.stop();
  rmSync(tmp, { recursive: true, force: true });
}, 120_000);

const addrOf = (svc: string) => mesh.envOf('gateway-0')![`GATEWAY_${svc.toUpperCase()}_ADDR`]!;

/** One cheap unary call per service, made with the identity `as` (a mesh or foreign one). */
const calls: Record<string, (identity: ReturnType<Pki['identity']>) => Promise<unknown>> = {
  session: (identity) => once(createClient(sessionV1.SessionService, addrOf('session'), { identity, deadlineMs: 10_000 }), (c) => c.listDevices({ userId })),
  group: (identity) => once(createClient(groupV1.GroupService, addrOf('group'), { identity, deadlineMs: 10_000 }), (c) => c.listChats({ actorUserId: userId })),
  message: (identity) => once(createClient(messageV1.MessageService, addrOf('message'), { identity, deadlineMs: 10_000 }), (c) => c.getChatHeads({ chatIds: [] })),
  presence: (identity) => once(createClient(presenceV1.PresenceService, addrOf('presence'), { identity, deadlineMs: 10_000 }), (c) => c.getSettings({ userIds: [userId] })),
  media: (identity) => once(createClient(mediaV1.MediaService, addrOf('media'), { identity, deadlineMs: 10_000 }), (c) => c.resolveAttachments({ userId, mediaIds: [] })),
  push: (identity) => once(createClient(pushV1.PushService, addrOf('push'), { identity, deadlineMs: 10_000 }), (c) => c.getVapidPublicKey({})),
};

async function once<C extends { close(): void }>(c: C, f: (c: C) => Promise<unknown>): Promise<unknown> {
  try {
    return await f(c);
  } finally {
    c.close();
  }
}

const outcome = (p: Promise<unknown>): Promise<string> =>
  p.then(
    () => 'ok',
    (e: unknown) => (e instanceof ParleyError ? e.code : `not a ParleyError: ${String(e)}`),
  );

/** A raw grpc-js call (any credentials) to a service's first method: the gRPC status code it ends with. */
function rawStatus(svc: string, creds: grpc.ChannelCredentials): Promise<number> {
  const desc = { session: sessionV1.SessionService, group: groupV1.GroupService, message: messageV1.MessageService, presence: presenceV1.PresenceService, media: mediaV1.MediaService, push: pushV1.PushService }[svc]!;
  const path = methodPath(desc, desc.methods[0]!);
  return new Promise((ok) => {
    const c = new grpc.Client(addrOf(svc), creds);
    c.makeUnaryRequest(path, () => Buffer.alloc(0), (b: Buffer) => b, new grpc.Metadata(), { deadline: Date.now() + 5000 }, (err) => {
      c.close();
      ok(err?.code ?? grpc.status.OK);
    });
  });
}

const SERVICES = ['session', 'group', 'message', 'presence', 'media', 'push'];

test('no certificate, plaintext, or a certificate from another CA: every service refuses the connection', async () => {
  const ca = mesh.pki.identity('gateway').ca;
  const f = foreign.identity('gateway');
  const results: Record<string, number[]> = {};
  for (const svc of SERVICES) {
    results[svc] = [
      await rawStatus(svc, grpc.credentials.createInsecure()),
      await rawStatus(svc, grpc.credentials.createSsl(ca, null, null, { checkServerIdentity: () => undefined })),
      await rawStatus(svc, grpc.credentials.createSsl(ca, f.key, f.cert, { checkServerIdentity: () => undefined })),
    ];
  }
  const refused = [grpc.status.UNAVAILABLE, grpc.status.UNAVAILABLE, grpc.status.UNAVAILABLE];
  expect(results).toEqual(Object.fromEntries(SERVICES.map((s) => [s, refused])));
  // Through the kit, a whole foreign identity (its own CA, the name "gateway") fails the same way.
  expect(await outcome(calls.session!(f))).toBe('unavailable');
}, 120_000);

test('a valid mesh certificate of a service that does not call the target is PERMISSION_DENIED; its callers get through', async () => {
  const got: Record<string, Record<string, string>> = {};
  const want: Record<string, Record<string, string>> = {};
  for (const svc of SERVICES) {
    got[svc] = {};
    want[svc] = {};
    const allowed = callersOf(svc);
    for (const caller of [...mesh.pki.names].filter((n) => n !== 'testing')) {
      got[svc][caller] = await outcome(calls[svc]!(mesh.pki.identity(caller)));
      // Admitted callers reach the handler: whatever it answers (ok here), never forbidden or unavailable.
      want[svc][caller] = allowed.includes(caller) ? 'ok' : 'forbidden';
    }
  }
  expect(got).toEqual(want);
  // The threat of the issue: a pod with the media identity cannot list a user's devices at session.
  expect(want.session!.media).toBe('forbidden');
  expect(want.session!.gateway).toBe('ok');
}, 180_000);

test('the server status for a refused identity is PERMISSION_DENIED (7), not a transport error', async () => {
  const id = mesh.pki.identity('push');
  expect(await rawStatus('message', grpc.credentials.createSsl(id.ca, id.key, id.cert, { checkServerIdentity: () => undefined }))).toBe(grpc.status.PERMISSION_DENIED);
});
