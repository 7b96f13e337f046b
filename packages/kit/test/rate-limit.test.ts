// Cluster-wide token buckets and lock-outs against the real Redis: two clients (two "processes") share one
// budget, refills follow the clock, lock-outs back off exponentially and a success clears them.
import { RedisLockout, RedisRateLimiter, createRedis } from '../src/index.js';
import { infra, logger, runId } from './support.js';

describe('RedisRateLimiter', () => {
  const a = createRedis(infra.redisUrl, { logger, name: 'rl-a' });
  const b = createRedis(infra.redisUrl, { logger, name: 'rl-b' });
  afterAll(() => {
    a.disconnect();
    b.disconnect();
  });

  it('two processes share one bucket; the refusal says when to retry; the clock refills it', async () => {
    let now = 1_000_000;
    const la = new RedisRateLimiter(a, runId, () => now);
    const lb = new RedisRateLimiter(b, runId, () => now);
    const rate = { perMinute: 60, burst: 3 };
    expect(await la.take('k1', rate)).toBe(0);
    expect(await lb.take('k1', rate)).toBe(0);
    expect(await la.take('k1', rate)).toBe(0);
    expect(await lb.take('k1', rate)).toBe(1000);
    expect(await la.take('other', rate)).toBe(0);
    now += 500;
    expect(await la.take('k1', rate)).toBe(500);
    now += 500;
    expect(await lb.take('k1', rate)).toBe(0);
    expect(await lb.take('k1', rate)).toBeGreaterThan(0);
  });

  it('a bucket that never refills says 60 s', async () => {
    const l = new RedisRateLimiter(a, runId);
    expect(await l.take('zero', { perMinute: 0, burst: 1 })).toBe(0);
    expect(await l.take('zero', { perMinute: 0, burst: 1 })).toBe(60_000);
  });
});

describe('RedisLockout', () => {
  const a = createRedis(infra.redisUrl, { logger, name: 'lock-a' });
  const b = createRedis(infra.redisUrl, { logger, name: 'lock-b' });
  afterAll(() => {
    a.disconnect();
    b.disconnect();
  });

  it('locks after the threshold, doubles per failure up to the cap, shared across processes, cleared by success', async () => {
    const policy = { threshold: 3, baseMs: 10_000, maxMs: 35_000, windowMs: 60_000 };
    const la = new RedisLockout(a, runId, policy);
    const lb = new RedisLockout(b, runId, policy);
    const who = `user-${runId}`;
    expect(await la.failed(who)).toBe(0);
    expect(await lb.failed(who)).toBe(0);
    expect(await la.lockedFor(who)).toBe(0);
    expect(await lb.failed(who)).toBe(10_000);
    const left = await la.lockedFor(who);
    expect(left).toBeGreaterThan(9_000);
    expect(left).toBeLessThanOrEqual(10_000);
    expect(await la.failed(who)).toBe(20_000);
    expect(await lb.failed(who)).toBe(35_000);
    expect(await lb.lockedFor(who)).toBeGreaterThan(30_000);
    await la.succeeded(who);
    expect(await lb.lockedFor(who)).toBe(0);
    expect(await lb.failed(who)).toBe(0);
  });
});
