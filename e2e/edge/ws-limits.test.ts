// Rate limits (rate_limited with retryAfterMs) and heartbeats (silent clients are closed), on a mesh
// with a short heartbeat interval and small buckets.
import { connect, signUp, type ParleyConnection } from '@parley/client';
import { edgeMesh, sleep, type Mesh } from './helpers.js';

let mesh: Mesh;
beforeAll(async () => {
  mesh = await edgeMesh({
    GATEWAY_HEARTBEAT_INTERVAL_MS: '500',
    GATEWAY_RATE_MISC_BURST: '5',
    GATEWAY_RATE_MISC_PER_MINUTE: '60',
    GATEWAY_RATE_SEND_BURST: '3',
    GATEWAY_RATE_SEND_PER_MINUTE: '6',
  });
});
afterAll(async () => {
  await mesh?.stop();
});

async function conn(gw = 1, opts: { autoPong?: boolean } = {}): Promise<ParleyConnection> {
  const u = await signUp(mesh.gatewayUrls[0]!);
  return connect(mesh.wsUrls[gw]!, u.accessToken, opts);
}

describe('rate limits', () => {
  it('answers rate_limited with retryAfterMs once the bucket is empty, and recovers', async () => {
    const c = await conn();
    for (let i = 0; i < 5; i++) await c.request('ping', {});
    const err = await c.request('ping', {}).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'rate_limited' });
    const retry = (err as { retryAfterMs: number }).retryAfterMs;
    expect(retry).toBeGreaterThan(0);
    expect(retry).toBeLessThanOrEqual(1000);
    await sleep(retry + 50);
    await expect(c.request('ping', {})).resolves.toEqual({ serverTime: expect.any(String) });
    expect(c.isOpen).toBe(true);
    await c.close();
  });

  it('limits message.send per device in its own class (burst 3)', async () => {
    const c = await conn(0);
    const send = (i: number) =>
      c.request('message.send', { chatId: 'c1', clientMsgId: `client-msg-${i}`, body: { text: 'hi' } }).catch((e: { code: string }) => e.code);
    const codes = [];
    for (let i = 0; i < 4; i++) codes.push(await send(i));
    // The first three reach the message service (whatever it answers), the fourth is refused at the edge.
    expect(codes.slice(0, 3)).not.toContain('rate_limited');
    expect(codes[3]).toBe('rate_limited');
    // Other classes are unaffected.
    await expect(c.request('ping', {})).resolves.toBeDefined();
    await c.close();
  });

  it('a second connection of the same device shares the bucket', async () => {
    const u = await signUp(mesh.gatewayUrls[0]!);
    const a = await connect(mesh.wsUrls[1]!, u.accessToken);
    const b = await connect(mesh.wsUrls[1]!, u.accessToken);
    for (let i = 0; i < 5; i++) await a.request('ping', {});
    await expect(b.request('ping', {})).rejects.toMatchObject({ code: 'rate_limited' });
    await a.close();
    await b.close();
  });
});

describe('heartbeats', () => {
  it('announces the interval and closes a client that stops answering pings within ~2 intervals', async () => {
    const silent = await conn(1, { autoPong: false });
    const alive = await conn(1);
    expect(silent.ready.heartbeatIntervalMs).toBe(500);
    const t0 = Date.now();
    const closed = await Promise.race([silent.closed, sleep(5000).then(() => 'still open')]);
    expect(closed).not.toBe('still open');
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(700);
    expect(took).toBeLessThan(2000);
    // A client that answers pings (and sends nothing) stays connected.
    expect(alive.isOpen).toBe(true);
    await alive.request('ping', {});
    await alive.close();
  });

  it('counts frames as liveness: a client sending frames without pongs stays open', async () => {
    const c = await conn(0, { autoPong: false });
    for (let i = 0; i < 8; i++) {
      await sleep(300);
      c.send('ping', {});
    }
    expect(c.isOpen).toBe(true);
    await c.close();
  });
});
