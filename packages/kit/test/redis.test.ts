// Redis against the real server: commands, pub/sub, readiness check, and a dropped connection healing itself.
import { checks, createRedis } from '../src/index.js';
import { infra, logger, runId, waitFor } from './support.js';

describe('Redis', () => {
  it('sets, gets and publishes binary messages', async () => {
    const a = createRedis(infra.redisUrl, { logger, name: 'a' });
    const sub = createRedis(infra.redisUrl, { logger, name: 'sub', subscriber: true });
    try {
      await a.set(`${runId}:k`, 'v', 'EX', 30);
      expect(await a.get(`${runId}:k`)).toBe('v');
      const got = new Promise<Buffer>((ok) => sub.on('messageBuffer', (_ch: Buffer, msg: Buffer) => ok(msg)));
      await sub.subscribe(`${runId}:ch`);
      await a.publish(`${runId}:ch`, Buffer.from([1, 2, 0, 255]));
      expect(Array.from(await got)).toEqual([1, 2, 0, 255]);
      await checks.redis(a)();
    } finally {
      a.disconnect();
      sub.disconnect();
    }
  });

  it('reconnects and re-subscribes by itself after the server drops the connection', async () => {
    const a = createRedis(infra.redisUrl, { logger, name: `${runId}-victim` });
    const sub = createRedis(infra.redisUrl, { logger, name: `${runId}-subvictim`, subscriber: true });
    const killer = createRedis(infra.redisUrl, { logger, name: 'killer' });
    try {
      await a.ping();
      const msgs: string[] = [];
      sub.on('message', (_ch: string, m: string) => void msgs.push(m));
      await sub.subscribe(`${runId}:heal`);
      // What a Redis restart looks like to a client: its connections are cut.
      await killer.call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
      await killer.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
      await waitFor(async () => (await a.get(`${runId}:nope`).then(() => true, () => false)) && a.status === 'ready', 10_000, 'redis reconnect');
      await waitFor(async () => {
        await killer.publish(`${runId}:heal`, 'after');
        return msgs.includes('after');
      }, 10_000, 're-subscribed');
      await checks.redis(a)();
    } finally {
      a.disconnect();
      sub.disconnect();
      killer.disconnect();
    }
  }, 30_000);

  it('fails a command within seconds (not forever) while the server is unreachable', async () => {
    const dead = createRedis('redis://127.0.0.1:1', { logger, name: 'dead' });
    const t0 = Date.now();
    await expect(dead.get('x')).rejects.toBeDefined();
    expect(Date.now() - t0).toBeLessThan(5000);
    await expect(checks.redis(dead)()).rejects.toBeDefined();
    dead.disconnect();
  });
});
