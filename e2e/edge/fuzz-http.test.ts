// Issue 15, fuzzing (bounded sample; bench/src/fuzz.ts runs a million inputs in-process): random JSON and
// non-JSON bodies, headers and path segments at every HTTP route of both gateways, authenticated and not.
// Every answer is a 2xx/3xx/4xx (or 503 for a service this mesh does not run) with the §6 error shape and no
// leak; nothing is ever 500, and the gateways stay ready. Also the diagnostics WebSocket echo route
// (GATEWAY_DIAG_WS_ECHO=true here) echoes text and binary frames.
import fc from 'fast-check';
import WebSocket from 'ws';
import { signUp } from '@parley/client';
import { edgeMesh, expectNoLeak, type Mesh } from './helpers.js';

let mesh: Mesh;
beforeAll(async () => {
  mesh = await edgeMesh({ GATEWAY_DIAG_WS_ECHO: 'true' });
});
afterAll(async () => {
  await mesh?.stop();
});

const ROUTES: [string, string][] = [
  ['POST', '/v1/accounts'],
  ['POST', '/v1/sessions'],
  ['POST', '/v1/sessions/refresh'],
  ['GET', '/v1/devices'],
  ['DELETE', '/v1/devices/{id}'],
  ['GET', '/v1/users/{id}'],
  ['GET', '/v1/users?username={id}'],
  ['POST', '/v1/media'],
  ['POST', '/v1/media/{id}/complete'],
  ['GET', '/v1/media/{id}'],
  ['GET', '/v1/media/{id}/thumbnail'],
  ['GET', '/v1/push/vapid-public-key'],
];

const body = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)),
  fc.record({ username: fc.string({ maxLength: 70 }), password: fc.string({ maxLength: 300 }), displayName: fc.anything() }, { requiredKeys: [] }).map((v) => JSON.stringify(v)),
  fc.record({ refreshToken: fc.string({ maxLength: 600 }), size: fc.oneof(fc.integer(), fc.double(), fc.string()), sha256: fc.string(), contentType: fc.string() }, { requiredKeys: [] }).map((v) => JSON.stringify(v)),
  fc.string({ unit: 'binary', maxLength: 400 }),
);
const segment = fc.oneof(fc.string({ maxLength: 40 }), fc.constantFrom('..', '%00', '%', 'u_x', 'a'.repeat(300)));

it('no route answers 500 or leaks, whatever the body, path or token', async () => {
  const u = await signUp(mesh.gatewayUrls[0]!);
  let calls = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...ROUTES),
      body,
      segment,
      fc.constantFrom('none', 'valid', 'garbage'),
      fc.constantFrom('application/json', 'text/plain', 'application/json; charset=utf-8', ''),
      fc.integer({ min: 0, max: 1 }),
      async ([method, path], b, seg, auth, ctype, gw) => {
        const url = mesh.gatewayUrls[gw]! + path.replace('{id}', encodeURIComponent(seg));
        const headers: Record<string, string> = {};
        if (ctype) headers['content-type'] = ctype;
        if (auth === 'valid') headers['authorization'] = `Bearer ${u.accessToken}`;
        if (auth === 'garbage') headers['authorization'] = `Bearer ${seg || 'x'}`;
        const res = await fetch(url, { method, headers, ...(method === 'GET' ? {} : { body: b }), redirect: 'manual' });
        const text = await res.text();
        calls += 1;
        expect([method, path, res.status]).not.toEqual([method, path, 500]);
        expect(res.status).toBeLessThan(600);
        if (res.status >= 400) {
          const parsed = JSON.parse(text) as { error: { code: string; message: string } };
          expect(typeof parsed.error.code).toBe('string');
          expectNoLeak(text);
        }
      },
    ),
    { numRuns: 400, seed: 15 },
  );
  expect(calls).toBe(400);
  for (const g of mesh.gatewayUrls) expect((await fetch(`${g}/readyz`)).status).toBe(200);
});

it('the diagnostics echo route echoes text and binary frames when enabled', async () => {
  const ws = new WebSocket(`${mesh.wsUrls[1]!.replace('/v1/ws', '')}/v1/diag/echo`);
  await new Promise<void>((ok, fail) => {
    ws.once('open', () => ok());
    ws.once('error', fail);
  });
  const got: { data: Buffer; binary: boolean }[] = [];
  ws.on('message', (data: Buffer, binary: boolean) => got.push({ data, binary }));
  ws.send('hello');
  ws.send(Buffer.from([0, 1, 2, 255]));
  const until = Date.now() + 5000;
  while (got.length < 2 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  ws.close();
  expect(got.map((g) => [g.binary, [...g.data]])).toEqual([
    [false, [...Buffer.from('hello')]],
    [true, [0, 1, 2, 255]],
  ]);
});
