import { pino } from 'pino';
import { readinessMonitor } from './ops.js';

const logger = pino({ level: 'silent' });

describe('readinessMonitor', () => {
  it('is ready only when every check passes, names failures, and recovers without a restart', async () => {
    let cassandraUp = true;
    const health: string[] = [];
    const changes: boolean[] = [];
    const m = readinessMonitor({
      logger,
      intervalMs: 60_000,
      checks: {
        cassandra: async () => {
          if (!cassandraUp) throw new Error('NoHostAvailable');
        },
        redis: async () => {},
      },
      grpc: { health: { set: (_s: string, st: 'SERVING' | 'NOT_SERVING') => void health.push(st), get: () => undefined } },
      onChange: (r) => void changes.push(r),
    });
    expect((await m.refresh()).ready).toBe(true);
    cassandraUp = false;
    const down = await m.refresh();
    expect(down.ready).toBe(false);
    expect(down.checks.cassandra).toMatchObject({ ok: false, error: 'NoHostAvailable' });
    expect(down.checks.redis).toMatchObject({ ok: true });
    cassandraUp = true;
    expect((await m.refresh()).ready).toBe(true);
    expect(changes).toEqual([true, false, true]);
    expect(health).toEqual(['SERVING', 'NOT_SERVING', 'SERVING']);
    m.drain();
    expect(m.state().ready).toBe(false);
    expect((await m.refresh()).ready).toBe(false);
    expect(health.at(-1)).toBe('NOT_SERVING');
    m.stop();
  });

  it('times out a hanging check', async () => {
    const m = readinessMonitor({ logger, intervalMs: 60_000, timeoutMs: 50, checks: { kafka: () => new Promise(() => {}) } });
    const t0 = Date.now();
    const s = await m.refresh();
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(s.ready).toBe(false);
    expect(s.checks.kafka?.error).toMatch(/timed out/);
    m.stop();
  });

  it('re-evaluates on its own every interval', async () => {
    let calls = 0;
    const m = readinessMonitor({ logger, intervalMs: 20, checks: { x: async () => void calls++ } });
    await new Promise((r) => setTimeout(r, 150));
    m.stop();
    expect(calls).toBeGreaterThanOrEqual(4);
  });
});
