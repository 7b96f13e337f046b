// protocol.md §1 and §3: frame rules, bad frames, binary, oversize, ids.
import { connect, signUp, type ParleyConnection } from '@parley/client';
import { edgeMesh, expectNoLeak, sleep, type Mesh } from './helpers.js';

let mesh: Mesh;
beforeAll(async () => {
  mesh = await edgeMesh();
});
afterAll(async () => {
  await mesh?.stop();
});

async function conn(gw = 1): Promise<ParleyConnection> {
  const u = await signUp(mesh.gatewayUrls[0]!);
  return connect(mesh.wsUrls[gw]!, u.accessToken);
}

/** Sends a raw frame and resolves with the next reply/error frame. */
function next(c: ParleyConnection, frame: string): Promise<Record<string, unknown>> {
  return new Promise((resolve) => {
    c.ws.once('message', (m) => resolve(JSON.parse(m.toString()) as Record<string, unknown>));
    c.sendRaw(frame);
  });
}

describe('frames', () => {
  it('answers ping with serverTime and echoes the id exactly once', async () => {
    const c = await conn();
    const r = await next(c, '{"id":"abc-1","op":"ping","data":{}}');
    expect(r).toEqual({ id: 'abc-1', ok: true, data: { serverTime: expect.stringMatching(/Z$/) } });
    await c.close();
  });

  it('answers bad frames with bad_request naming the field, and stays open', async () => {
    const c = await conn();
    const cases: [string, string | null, string | undefined][] = [
      ['not json', null, undefined],
      ['[1,2,3]', null, undefined],
      ['{"id":"1","op":"no.such.op","data":{}}', '1', 'op'],
      ['{"id":"2","data":{}}', '2', 'op'],
      ['{"id":"3","op":"chat.get","data":{}}', '3', 'data.chatId'],
      ['{"id":"4","op":"chat.get","data":{"chatId":42}}', '4', 'data.chatId'],
      ['{"id":"5","op":"message.send","data":{"chatId":"c","clientMsgId":"abcdefgh","body":{}}}', '5', 'data.body'],
      ['{"id":"6","op":"message.send","data":{"chatId":"c","clientMsgId":"short","body":{"text":"x"}}}', '6', 'data.clientMsgId'],
      ['{"id":"7","op":"message.ack","data":{"items":[{"chatId":"c"}]}}', '7', 'data.items[0].seq'],
      ['{"id":"8","op":"message.history","data":{"chatId":"c","limit":0}}', '8', 'data.limit'],
      [JSON.stringify({ id: 'x'.repeat(65), op: 'ping', data: {} }), null, 'id'],
    ];
    for (const [frame, id, field] of cases) {
      const r = await next(c, frame);
      expect(r).toMatchObject({ id, ok: false, error: { code: 'bad_request' } });
      const msg = (r['error'] as { message: string }).message;
      if (field) expect(msg).toContain(field);
      expectNoLeak(JSON.stringify(r));
    }
    expect(c.isOpen).toBe(true);
    await expect(c.request('ping', {})).resolves.toEqual({ serverTime: expect.any(String) });
    await c.close();
  });

  it('ignores unknown fields', async () => {
    const c = await conn();
    const r = await next(c, '{"id":"u1","op":"ping","data":{"whatever":1},"extra":true}');
    expect(r).toMatchObject({ id: 'u1', ok: true });
    await c.close();
  });

  it('a request without id gets no reply on success, but errors with "id":null', async () => {
    const c = await conn();
    c.send('ping', {});
    c.sendRaw('{"op":"chat.get","data":{}}');
    const err = await c.waitForError();
    expect(err).toMatchObject({ code: 'bad_request' });
    await sleep(300);
    // Exactly one frame arrived for the two id-less requests: the error.
    expect(c.errors).toHaveLength(1);
    await c.close();
  });

  it('closes with 1008 after more than 20 bad frames in a minute', async () => {
    const c = await conn();
    for (let i = 0; i < 20; i++) c.sendRaw('nope');
    await sleep(300);
    expect(c.isOpen).toBe(true);
    c.sendRaw('nope');
    const closed = await Promise.race([c.closed, sleep(5000).then(() => 'still open')]);
    expect(closed).toMatchObject({ code: 1008 });
  });

  it('closes with 1003 on a binary frame', async () => {
    const c = await conn(0);
    c.sendRaw(Buffer.from('{"id":"1","op":"ping","data":{}}'), { binary: true });
    expect(await Promise.race([c.closed, sleep(5000).then(() => 'still open')])).toMatchObject({ code: 1003 });
  });

  it('closes with 1009 on a frame over 128 KiB, accepts one just under', async () => {
    const c = await conn();
    const pad = (n: number) => JSON.stringify({ id: '1', op: 'ping', data: { pad: 'x'.repeat(n) } });
    const under = pad(131072 - 60);
    expect(Buffer.byteLength(under)).toBeLessThanOrEqual(131072);
    c.sendRaw(under);
    await c.request('ping', {});
    expect(c.isOpen).toBe(true);
    c.sendRaw(pad(131072));
    expect(await Promise.race([c.closed, sleep(5000).then(() => 'still open')])).toMatchObject({ code: 1009 });
  });
});
