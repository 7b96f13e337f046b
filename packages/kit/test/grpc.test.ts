// Round-trip tests of the gRPC bridge over loopback: unary, server streaming, int64/bigint, bytes,
// every error code, deadlines, and grpc.health.v1.
import { healthV1, testingV1 } from '@parley/proto';
import { ERROR_CODES, ParleyError, createClient, createGrpcServer, createLogger, type GrpcServer } from '../src/index.js';

const logger = createLogger('grpc-test', 'silent');
let server: GrpcServer;
let addr: string;
let client: ReturnType<typeof createClient<typeof testingV1.EchoService>>;

beforeAll(async () => {
  server = createGrpcServer({ logger });
  server.addService(testingV1.EchoService, {
    echo: async (req, ctx) => {
      if (req.failWithCode) {
        throw new ParleyError(req.failWithCode as never, `failed with ${req.failWithCode}`, req.failWithCode === 'rate_limited' ? { retryAfterMs: 1234 } : {});
      }
      if (req.delayMs) {
        await new Promise((r) => setTimeout(r, req.delayMs));
        if (ctx.signal.aborted) throw new ParleyError('unavailable', 'aborted');
      }
      return { text: req.text + (ctx.metadata['x-who'] ?? ''), big: req.big, ubig: req.ubig, blob: req.blob };
    },
    echoStream: async function* (req) {
      for (let i = 0; i < req.repeat; i++) yield { text: req.text, index: i, big: req.big + BigInt(i) };
      if (req.failWithCode) throw new ParleyError(req.failWithCode as never, 'stream failed');
    },
  });
  server.health.set('', 'SERVING');
  const port = await server.listen('127.0.0.1', 0);
  addr = `127.0.0.1:${port}`;
  client = createClient(testingV1.EchoService, addr, { deadlineMs: 2000 });
});

afterAll(async () => {
  client.close();
  await server.shutdown(1000);
});

describe('gRPC bridge', () => {
  it('round-trips a unary call with metadata, int64, uint64 and bytes', async () => {
    const big = -(2n ** 62n) + 7n;
    const ubig = 2n ** 64n - 1n;
    const blob = new Uint8Array([0, 1, 2, 255]);
    const res = await client.echo({ text: 'hi', big, ubig, blob }, { metadata: { 'x-who': '!' } });
    expect(res.text).toBe('hi!');
    expect(res.big).toBe(big);
    expect(res.ubig).toBe(ubig);
    expect(Array.from(res.blob)).toEqual([0, 1, 2, 255]);
    expect(typeof res.big).toBe('bigint');
  });

  it('streams server responses in order', async () => {
    const got: { index: number; big: bigint }[] = [];
    for await (const r of client.echoStream({ text: 's', repeat: 50, big: 2n ** 53n + 1n })) got.push({ index: r.index, big: r.big });
    expect(got.map((g) => g.index)).toEqual([...Array(50).keys()]);
    expect(got[49]!.big).toBe(2n ** 53n + 50n);
  });

  it('delivers a stream error after the items', async () => {
    const got: number[] = [];
    await expect(
      (async () => {
        for await (const r of client.echoStream({ text: 's', repeat: 3, failWithCode: 'not_found' })) got.push(r.index);
      })(),
    ).rejects.toMatchObject({ code: 'not_found' });
    expect(got).toEqual([0, 1, 2]);
  });

  it.each(ERROR_CODES.filter((c) => c !== 'internal'))('maps %s both ways', async (code) => {
    const err = await client.echo({ failWithCode: code }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ParleyError);
    expect((err as ParleyError).code).toBe(code);
    expect((err as ParleyError).message).toBe(`failed with ${code}`);
    if (code === 'rate_limited') expect((err as ParleyError).retryAfterMs).toBe(1234);
  });

  it('hides internal error details', async () => {
    const err = (await client.echo({ failWithCode: 'internal' }).catch((e: unknown) => e)) as ParleyError;
    expect(err.code).toBe('internal');
    expect(err.message).toBe('internal error');
  });

  it('enforces deadlines as unavailable', async () => {
    const t0 = Date.now();
    const err = (await client.echo({ delayMs: 1500 }, { deadlineMs: 200 }).catch((e: unknown) => e)) as ParleyError;
    expect(err.code).toBe('unavailable');
    expect(Date.now() - t0).toBeLessThan(1000);
  });

  it('answers unregistered methods and unreachable servers with unavailable', async () => {
    const s2 = createGrpcServer({ logger });
    s2.addService(testingV1.EchoService, {});
    const p = await s2.listen('127.0.0.1', 0);
    const c2 = createClient(testingV1.EchoService, `127.0.0.1:${p}`);
    await expect(c2.echo({ text: 'x' })).rejects.toMatchObject({ code: 'unavailable' });
    c2.close();
    await s2.shutdown(500);
    const c3 = createClient(testingV1.EchoService, '127.0.0.1:1', { deadlineMs: 500 });
    await expect(c3.echo({ text: 'x' })).rejects.toMatchObject({ code: 'unavailable' });
    c3.close();
  });

  it('serves grpc.health.v1 Check and Watch', async () => {
    const health = createClient(healthV1.Health, addr);
    expect((await health.check({ service: '' })).status).toBe(healthV1.HealthCheckResponse_ServingStatus.SERVING);
    server.health.set('parley.testing.v1.EchoService', 'NOT_SERVING');
    expect((await health.check({ service: 'parley.testing.v1.EchoService' })).status).toBe(
      healthV1.HealthCheckResponse_ServingStatus.NOT_SERVING,
    );
    await expect(health.check({ service: 'nope' })).rejects.toMatchObject({ code: 'not_found' });
    const ac = new AbortController();
    const seen: number[] = [];
    const watching = (async () => {
      for await (const r of health.watch({ service: 'parley.testing.v1.EchoService' }, { signal: ac.signal })) {
        seen.push(r.status);
        if (seen.length === 1) server.health.set('parley.testing.v1.EchoService', 'SERVING');
        if (seen.length === 2) break;
      }
    })();
    await watching;
    ac.abort();
    expect(seen).toEqual([healthV1.HealthCheckResponse_ServingStatus.NOT_SERVING, healthV1.HealthCheckResponse_ServingStatus.SERVING]);
    health.close();
  });
});
