// Round-trip tests of the gRPC bridge over loopback: unary, server streaming, int64/bigint, bytes,
// every error code, deadlines, and grpc.health.v1.
import { Writable } from 'node:stream';
import tls from 'node:tls';
import { create, toBinary, fromBinary } from '@bufbuild/protobuf';
import * as grpc from '@grpc/grpc-js';
import { healthV1, testingV1 } from '@parley/proto';
import { ERROR_CODES, ParleyError, createClient, createGrpcServer, createLogger, createMetrics, applyServerSocketOptions, type Client, type GrpcServer } from '../src/index.js';
import { asGateway, asTestServer } from './support.js';

// Captures log lines so the test can see what the server logged for an unknown error.
const lines: Record<string, unknown>[] = [];
const sink = new Writable({
  write(chunk: Buffer, _enc, cb) {
    for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
    cb();
  },
});
const logger = createLogger('grpc-test', 'error', sink);
const metrics = createMetrics('grpc-test', { defaultMetrics: false });
let server: GrpcServer;
let addr: string;
let client: Client<typeof testingV1.EchoService>;
let lastDeadline: Date | undefined;
const stream: { finished?: { aborted: boolean } } = {};

beforeAll(async () => {
  server = createGrpcServer({ ...asTestServer, logger, metrics });
  server.addService(testingV1.EchoService, {
    echo: async (req, ctx) => {
      lastDeadline = ctx.deadline;
      if (req.failWithCode === 'boom') throw new TypeError('secret internals at /srv/x.ts:12');
      if (req.failWithCode) {
        throw new ParleyError(req.failWithCode as never, `failed with ${req.failWithCode}`, req.failWithCode === 'rate_limited' ? { retryAfterMs: 1234 } : {});
      }
      if (req.delayMs) {
        await new Promise((r) => setTimeout(r, req.delayMs));
        if (ctx.signal.aborted) throw new ParleyError('unavailable', 'aborted');
      }
      return { text: req.text + (ctx.metadata['x-who'] ?? ''), big: req.big, ubig: req.ubig, blob: req.blob };
    },
    echoStream: async function* (req, ctx) {
      try {
        for (let i = 0; i < req.repeat; i++) {
          if (req.delayMs) await new Promise((r) => setTimeout(r, req.delayMs));
          yield { text: req.text, index: i, big: req.big + BigInt(i) };
        }
        if (req.failWithCode) throw new ParleyError(req.failWithCode as never, 'stream failed');
      } finally {
        stream.finished = { aborted: ctx.signal.aborted };
      }
    },
  });
  server.health.set('', 'SERVING');
  const port = await server.listen('127.0.0.1', 0);
  addr = `127.0.0.1:${port}`;
  client = createClient(testingV1.EchoService, addr, { ...asGateway, deadlineMs: 2000 });
});

afterAll(async () => {
  client.close();
  await server.tryShutdown(1000);
});

const waitFor = async (cond: () => boolean, ms = 3000) => {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 10));
  }
};

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

  it('speaks plain gRPC on /<typeName>/<Method> (a raw grpc-js client interoperates)', async () => {
    const { ca, key, cert } = asGateway.identity;
    const raw = new grpc.Client(addr, grpc.credentials.createSsl(ca, key, cert, { checkServerIdentity: () => undefined }));
    const res = await new Promise<testingV1.EchoResponse>((ok, fail) =>
      raw.makeUnaryRequest(
        '/parley.testing.v1.EchoService/Echo',
        (m: testingV1.EchoRequest) => Buffer.from(toBinary(testingV1.EchoRequestSchema, m)),
        (b: Buffer) => fromBinary(testingV1.EchoResponseSchema, b),
        create(testingV1.EchoRequestSchema, { text: 'raw', big: -5n }),
        (err, r) => (err || !r ? fail(err) : ok(r)),
      ),
    );
    raw.close();
    expect(res.text).toBe('raw');
    expect(res.big).toBe(-5n);
  });

  it('accepts a Message as well as an init object, and round-trips extreme 64-bit values', async () => {
    for (const big of [0n, -1n, 2n ** 53n + 1n, -(2n ** 53n) - 1n, 2n ** 63n - 1n, -(2n ** 63n)]) {
      const res = await client.echo(create(testingV1.EchoRequestSchema, { big, ubig: 2n ** 63n + 5n }));
      expect(res.big).toBe(big);
      expect(res.ubig).toBe(2n ** 63n + 5n);
    }
  });

  it('turns an unknown handler error into internal: logged with its stack, never sent', async () => {
    lines.length = 0;
    const err = (await client.echo({ failWithCode: 'boom' }).catch((e: unknown) => e)) as ParleyError;
    expect(err).toBeInstanceOf(ParleyError);
    expect(err.code).toBe('internal');
    expect(err.message).toBe('internal error');
    expect(JSON.stringify(err)).not.toContain('/srv/x.ts');
    const logged = lines.find((l) => l.msg === 'handler failed');
    expect(JSON.stringify(logged)).toContain('secret internals');
    expect((logged?.err as { stack?: string }).stack).toContain('TypeError');
  });

  it('passes the deadline to the handler', async () => {
    const before = Date.now();
    await client.echo({ text: 'x' }, { deadlineMs: 3000 });
    expect(lastDeadline).toBeInstanceOf(Date);
    expect(lastDeadline!.getTime()).toBeGreaterThan(before + 2000);
    expect(lastDeadline!.getTime()).toBeLessThanOrEqual(Date.now() + 3000);
  });

  it('records handled calls per method and code', async () => {
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/parley_grpc_server_handled_total\{method="EchoService.Echo",code="ok",service="grpc-test"\} \d+/);
    expect(text).toMatch(/parley_grpc_server_handled_total\{method="EchoService.Echo",code="not_found",service="grpc-test"\} 1/);
    expect(text).toContain('parley_grpc_server_handling_seconds_bucket');
  });

  it('cancels the server generator when the client stops reading', async () => {
    delete stream.finished;
    for await (const r of client.echoStream({ text: 's', repeat: 1000, delayMs: 5 })) if (r.index === 2) break;
    await waitFor(() => stream.finished !== undefined);
    expect((stream.finished as { aborted: boolean } | undefined)?.aborted).toBe(true);
  });

  it('aborts a stream through the caller signal and a stream deadline', async () => {
    const ac = new AbortController();
    const got: number[] = [];
    const err = await (async () => {
      for await (const r of client.echoStream({ text: 's', repeat: 1000, delayMs: 5 }, { signal: ac.signal })) {
        got.push(r.index);
        if (r.index === 3) ac.abort();
      }
    })().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'unavailable' });
    expect(got.length).toBeLessThan(10);
    const t0 = Date.now();
    const err2 = await (async () => {
      for await (const _ of client.echoStream({ repeat: 1000, delayMs: 20 }, { deadlineMs: 200 })) void _;
    })().catch((e: unknown) => e);
    expect(err2).toMatchObject({ code: 'unavailable' });
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it('enforces deadlines as unavailable', async () => {
    const t0 = Date.now();
    const err = (await client.echo({ delayMs: 1500 }, { deadlineMs: 200 }).catch((e: unknown) => e)) as ParleyError;
    expect(err.code).toBe('unavailable');
    expect(Date.now() - t0).toBeLessThan(1000);
  });

  it('answers unregistered methods and unreachable servers with unavailable', async () => {
    const s2 = createGrpcServer({ ...asTestServer, logger });
    s2.addService(testingV1.EchoService, {});
    const p = await s2.listen('127.0.0.1', 0);
    const c2 = createClient(testingV1.EchoService, `127.0.0.1:${p}`, asGateway);
    await expect(c2.echo({ text: 'x' })).rejects.toMatchObject({ code: 'unavailable' });
    c2.close();
    await s2.shutdown(500);
    const c3 = createClient(testingV1.EchoService, '127.0.0.1:1', { ...asGateway, deadlineMs: 500 });
    await expect(c3.echo({ text: 'x' })).rejects.toMatchObject({ code: 'unavailable' });
    c3.close();
  });

  it('serves grpc.health.v1 Check and Watch', async () => {
    const health = createClient(healthV1.Health, addr, asGateway);
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

  it('shutdown ends Health.Watch streams and does not wait for the timeout', async () => {
    const s = createGrpcServer({ ...asTestServer, logger });
    s.addService(testingV1.EchoService, { echo: async (r) => ({ text: r.text }) });
    s.health.set('', 'SERVING');
    const p = await s.listen('127.0.0.1', 0);
    const h = createClient(healthV1.Health, `127.0.0.1:${p}`, asGateway);
    const seen: number[] = [];
    const watching = (async () => {
      for await (const r of h.watch({ service: 'parley.testing.v1.EchoService' })) seen.push(r.status);
    })().catch((e: unknown) => e);
    await waitFor(() => seen.length === 1);
    const t0 = Date.now();
    await s.tryShutdown(5000);
    expect(Date.now() - t0).toBeLessThan(2000);
    await watching;
    expect(seen[0]).toBe(healthV1.HealthCheckResponse_ServingStatus.SERVING);
    expect(seen).toContain(healthV1.HealthCheckResponse_ServingStatus.NOT_SERVING);
    h.close();
  });
});

describe('server sockets without Nagle', () => {
  it('the mutual-TLS credentials make grpc-js accept every connection with TCP_NODELAY', async () => {
    const id = asTestServer.identity;
    const creds = grpc.ServerCredentials.createSsl(id.ca, [{ private_key: id.key, cert_chain: id.cert }], true);
    applyServerSocketOptions(creds);
    const raw = new grpc.Server();
    await new Promise<void>((ok, fail) => raw.bindAsync('127.0.0.1:0', creds, (err) => (err ? fail(err) : ok())));
    try {
      // grpc-js keeps its http2 servers in a private map; net.Server stores the option it applies to each accepted socket.
      const servers = [...((raw as unknown as { http2Servers: Map<{ noDelay?: boolean }, unknown> }).http2Servers.keys())];
      expect(servers.length).toBeGreaterThan(0);
      for (const s of servers) expect(s.noDelay).toBe(true);
      // TLS 1.3 only (no renegotiation: a connection's peer certificate, and so its caller, cannot change)
      const port = Number((raw as unknown as { http2Servers: Map<{ address(): { port: number } }, unknown> }).http2Servers.keys().next().value!.address().port);
      const gw = asGateway.identity;
      const outcome = await new Promise<string>((done) => {
        const s = tls.connect({ host: '127.0.0.1', port, ca: gw.ca, cert: gw.cert, key: gw.key, maxVersion: 'TLSv1.2', rejectUnauthorized: false, ALPNProtocols: ['h2'] }, () => {
          done(`connected with ${s.getProtocol()}`);
          s.destroy();
        });
        s.on('error', (e) => done(`refused: ${e.message}`));
      });
      expect(outcome).toMatch(/^refused/);
    } finally {
      raw.forceShutdown();
    }
  });

  it('reads the caller certificate once per connection, not per call', async () => {
    const spy = jest.spyOn(tls.TLSSocket.prototype, 'getPeerCertificate');
    try {
      const c = createClient(testingV1.EchoService, addr, { ...asGateway, deadlineMs: 2000 });
      for (let i = 0; i < 5; i++) expect((await c.echo({ text: `x${i}` })).text).toBe(`x${i}`);
      const serverSide = spy.mock.instances.filter((s) => (s as unknown as tls.TLSSocket).server !== undefined).length;
      expect(serverSide).toBe(1);
      c.close();
    } finally {
      spy.mockRestore();
    }
  });
});
