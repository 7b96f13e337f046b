// The ops HTTP server over loopback: /healthz, /readyz (names the failing check, recovers), /metrics.
import { createGrpcServer, createMetrics, readinessMonitor, startOpsServer } from '../src/index.js';
import { asTestServer, logger } from './support.js';

describe('ops server', () => {
  it('serves healthz, readyz and metrics, and readiness follows the stores', async () => {
    let redisUp = true;
    const metrics = createMetrics('ops-test');
    metrics.counter('parley_ops_test_total', 'x').inc(3);
    const grpc = createGrpcServer({ ...asTestServer, logger });
    const readiness = readinessMonitor({
      logger,
      intervalMs: 60_000,
      grpc,
      checks: {
        redis: async () => {
          if (!redisUp) throw new Error('ECONNREFUSED');
        },
      },
    });
    const ops = await startOpsServer({ host: '127.0.0.1', port: 0, logger, registry: metrics.registry, readiness });
    const base = `http://127.0.0.1:${ops.port}`;
    try {
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      const ready = await fetch(`${base}/readyz`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toMatchObject({ status: 'ready', checks: { redis: { ok: true } } });
      expect(grpc.health.get('')).toBe('SERVING');

      redisUp = false;
      const notReady = await fetch(`${base}/readyz`);
      expect(notReady.status).toBe(503);
      expect(await notReady.json()).toMatchObject({ status: 'not_ready', checks: { redis: { ok: false, error: 'ECONNREFUSED' } } });
      expect(grpc.health.get('')).toBe('NOT_SERVING');
      expect((await fetch(`${base}/healthz`)).status).toBe(200); // alive, just not ready

      redisUp = true;
      expect((await fetch(`${base}/readyz`)).status).toBe(200);
      expect(grpc.health.get('')).toBe('SERVING');

      const m = await fetch(`${base}/metrics`);
      expect(m.headers.get('content-type')).toContain('text/plain');
      const text = await m.text();
      expect(text).toContain('parley_ops_test_total{service="ops-test"} 3');
      expect(text).toContain('nodejs_heap_size_total_bytes');
      expect((await fetch(`${base}/nope`)).status).toBe(404);

      ops.markStopping();
      expect((await fetch(`${base}/healthz`)).status).toBe(503);
      expect((await fetch(`${base}/readyz`)).status).toBe(503);
    } finally {
      readiness.stop();
      await ops.close();
      await grpc.shutdown(100);
    }
  });

  it('can build its own monitor from checks', async () => {
    const ops = await startOpsServer({ host: '127.0.0.1', port: 0, logger, registry: createMetrics('x', { defaultMetrics: false }).registry, checks: { a: async () => {} } });
    expect((await fetch(`http://127.0.0.1:${ops.port}/readyz`)).status).toBe(200);
    await ops.close();
  });
});
