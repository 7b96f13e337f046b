// The per-user message.send budget against the real Redis: two gateways (two UserLimits, two connections)
// take from one bucket per user, users do not share, and a Redis that does not answer lets sends through
// within the check's time budget instead of stalling them.
import { createLogger, createRedis, type Redis } from '@parley/kit';
import { freePort, infraSettings } from '@parley/testing';
import { UserLimits } from '../src/adapters/user-limits.js';

const logger = createLogger('user-limits-test', 'silent');
const ns = `ul${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
const cfg = { namespace: ns, userRates: { send: { perMinute: 1, burst: 3 } } };
let r1: Redis;
let r2: Redis;

beforeAll(() => {
  r1 = createRedis(infraSettings().redis.url, { logger, name: 'gw-a' });
  r2 = createRedis(infraSettings().redis.url, { logger, name: 'gw-b' });
});
afterAll(async () => {
  const keys = await r1.keys(`${ns}:*`);
  if (keys.length) await r1.del(...keys);
  r1.disconnect();
  r2.disconnect();
});

test('two gateways share one bucket per user; another user has their own', async () => {
  const a = new UserLimits(r1, cfg, logger);
  const b = new UserLimits(r2, cfg, logger);
  const waits = [await a.send('u1'), await b.send('u1'), await a.send('u1'), await b.send('u1'), await a.send('u1')];
  expect(waits.slice(0, 3)).toEqual([0, 0, 0]);
  for (const w of waits.slice(3)) {
    expect(w).toBeGreaterThan(50_000);
    expect(w).toBeLessThanOrEqual(60_000);
  }
  expect(await b.send('u2')).toBe(0);
});

test('Redis not answering: the send goes through within the budget, and is counted', async () => {
  const port = await freePort();
  const dead = createRedis(`redis://127.0.0.1:${port}`, { logger, name: 'dead' });
  const seen: string[] = [];
  const l = new UserLimits(dead, cfg, logger, { inc: ({ op }) => seen.push(op) });
  try {
    const t0 = Date.now();
    expect(await l.send('u1')).toBe(0);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(seen).toEqual(['message.send']);
  } finally {
    dead.disconnect();
  }
});
