// Issue 15, information leaks and token transport:
// - a stranger cannot tell a chat that exists from one that does not (same code, same message);
// - the access token travels in Sec-WebSocket-Protocol (what browsers can set); the server selects
//   `parley.v1` and never echoes the token; the query-string token still works (protocol.md §1);
// - no token, good or bad, from the header, the subprotocol or the query string, appears in any log line
//   of any process (logs at debug level).
import { readFileSync } from 'node:fs';
import { connect, ParleyConnectError } from '@parley/client';
import { chatMesh, clientMsgId, Device, newUser, text, type Mesh } from './helpers.js';

let mesh: Mesh;
beforeAll(async () => {
  mesh = await chatMesh({ PARLEY_LOG_LEVEL: 'debug' });
});
afterAll(async () => {
  await mesh?.stop();
});

type Outcome = { code: string; message: string };
async function outcome(p: Promise<unknown>, chatId: string): Promise<Outcome> {
  try {
    await p;
  } catch (e) {
    const err = e as { code: string; message: string };
    return { code: err.code, message: err.message.split(chatId).join('<chat>') };
  }
  throw new Error('the request succeeded');
}

it('a stranger gets the same answer for an existing chat as for one that does not exist', async () => {
  const [owner, stranger] = [await newUser(mesh), await newUser(mesh)];
  const o = new Device(mesh, owner, 'o');
  const s = new Device(mesh, stranger, 's');
  await o.connect(0);
  await s.connect(1);
  const real = (await o.c.request('chat.create', { type: 'group', name: 'secret', members: [] })).chat.chatId as string;
  const fake = `${real.slice(0, -4)}zzzz`;
  const probes: [string, (id: string) => Promise<unknown>][] = [
    ['chat.get', (id) => s.c.request('chat.get', { chatId: id })],
    ['chat.update', (id) => s.c.request('chat.update', { chatId: id, name: 'mine' })],
    ['chat.members.add', (id) => s.c.request('chat.members.add', { chatId: id, userIds: [stranger.userId] })],
    ['chat.members.remove', (id) => s.c.request('chat.members.remove', { chatId: id, userIds: [owner.userId] })],
    ['message.send', (id) => s.c.request('message.send', { chatId: id, clientMsgId: clientMsgId(), body: text('hi') })],
    ['message.history', (id) => s.c.request('message.history', { chatId: id })],
  ];
  for (const [op, probe] of probes) {
    const a = await outcome(probe(real), real);
    const b = await outcome(probe(fake), fake);
    expect([op, b]).toEqual([op, a]);
    expect([op, a.code]).toEqual([op, 'not_member']);
  }
  await Promise.all([o.disconnect(), s.disconnect()]);
});

it('accepts the token in Sec-WebSocket-Protocol, selects parley.v1, and refuses a bad one with 401', async () => {
  const u = await newUser(mesh);
  const d = new Device(mesh, u, 'browser');
  await d.login();
  for (const gw of [0, 1]) {
    const c = await connect(mesh.wsUrls[gw]!, d.accessToken, { tokenIn: 'subprotocol' });
    expect(c.ws.protocol).toBe('parley.v1');
    expect((await c.request('ping', {})).serverTime).toEqual(expect.any(String));
    await c.close();
  }
  const bad = await connect(mesh.wsUrls[0]!, `${d.accessToken.slice(0, -6)}AAAAAA`, { tokenIn: 'subprotocol', timeoutMs: 5000 }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(bad).toBeInstanceOf(ParleyConnectError);
  expect((bad as ParleyConnectError).status).toBe(401);
});

it('no access token appears in any log line, whichever way it travelled', async () => {
  const u = await newUser(mesh);
  const d = new Device(mesh, u, 'logs');
  await d.login();
  const good = d.accessToken;
  const bad = `${good.slice(0, -6)}BBBBBB`;
  for (const tokenIn of ['query', 'subprotocol', 'header'] as const) {
    const c = await connect(mesh.wsUrls[1]!, good, { tokenIn });
    await c.close();
    await connect(mesh.wsUrls[0]!, bad, { tokenIn, timeoutMs: 5000 }).then(
      (x) => x.close(),
      () => undefined,
    );
  }
  await new Promise((r) => setTimeout(r, 500));
  const sig = (t: string) => t.split('.')[2]!;
  for (const name of mesh.names()) {
    const log = readFileSync(mesh.logFile(name), 'utf8');
    expect(log.length).toBeGreaterThan(0);
    expect([name, log.includes(sig(good))]).toEqual([name, false]);
    expect([name, log.includes(sig(bad))]).toEqual([name, false]);
  }
});
