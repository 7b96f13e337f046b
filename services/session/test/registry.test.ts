// The Redis registry adapter against the real Redis: the races a fake cannot show.
import { createLogger, createRedis, nsKey, readWarmRoutes, type Redis } from '@parley/kit';
import { envSpec } from '../src/config.js';
import { ConnectionRegistry } from '../src/adapters/registry.js';

const run = `r${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
const cfg = envSpec.parse({ ...process.env, PARLEY_NAMESPACE: run });
let redis: Redis;
let reg: ConnectionRegistry;

beforeAll(() => {
  redis = createRedis(cfg.redisUrl, { logger: createLogger('registry-test', 'silent'), name: 'registry-test' });
  reg = new ConnectionRegistry(redis, run);
});

afterAll(async () => {
  const keys = await redis.keys(`${run}:*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
});

describe('device-set cache', () => {
  it('does not cache a set read from Cassandra before a concurrent login added a device', async () => {
    // The fill read the old state ([d1]); meanwhile a login wrote d2 to Cassandra and told the registry.
    const routes1 = await reg.routes(['u1'], async () => {
      await reg.deviceAdded('u1', 'd2');
      return ['d1'];
    });
    expect(routes1.map((r) => r.deviceId)).toEqual(['d1']); // this one call may be stale…
    let loads = 0;
    const routes2 = await reg.routes(['u1'], async () => {
      loads++;
      return ['d1', 'd2'];
    });
    expect(loads).toBe(1); // …but the stale set was not cached: the next call reads again
    expect(routes2.map((r) => r.deviceId).sort()).toEqual(['d1', 'd2']);
    // Now it is cached, and later additions land in the cached set.
    await reg.deviceAdded('u1', 'd3');
    const routes3 = await reg.routes(['u1'], async () => {
      throw new Error('should be cached');
    });
    expect(routes3.map((r) => r.deviceId).sort()).toEqual(['d1', 'd2', 'd3']);
  });

  it('does not cache a set read before a concurrent removal', async () => {
    await reg.routes(['u2'], async () => ['a', 'b']);
    await redis.del(nsKey(run, 'parley:udev:{u2}')); // cache lost
    const stale = await reg.routes(['u2'], async () => {
      await reg.deviceRemoved('u2', 'b');
      return ['a', 'b'];
    });
    expect(stale).toHaveLength(2);
    const fresh = await reg.routes(['u2'], async () => ['a']);
    expect(fresh.map((r) => r.deviceId)).toEqual(['a']);
  });

  it('caches "no devices" too', async () => {
    expect(await reg.routes(['u3'], async () => [])).toEqual([]);
    expect(
      await reg.routes(['u3'], async () => {
        throw new Error('should be cached');
      }),
    ).toEqual([]);
  });
});

describe('connections', () => {
  const conn = { userId: 'u9', deviceId: 'd9', gatewayId: 'g1', connectionId: 'c1' };

  it('unregisters only the matching connection, and heartbeats never steal a newer one', async () => {
    await reg.register(conn, 30);
    await reg.register({ ...conn, gatewayId: 'g2', connectionId: 'c2' }, 30);
    expect(await reg.unregister(conn)).toBe(false);
    await reg.heartbeat([conn], 30);
    expect(await reg.connection('d9')).toEqual({ ...conn, gatewayId: 'g2', connectionId: 'c2' });
    expect(await reg.unregister({ ...conn, gatewayId: 'g2', connectionId: 'c2' })).toBe(true);
    expect(await reg.connection('d9')).toBeUndefined();
  });

  it('expires entries after their TTL unless heartbeated', async () => {
    await reg.register({ ...conn, deviceId: 'e1' }, 1);
    await reg.register({ ...conn, deviceId: 'e2' }, 1);
    await new Promise((r) => setTimeout(r, 600));
    await reg.heartbeat([{ ...conn, deviceId: 'e1' }], 2);
    await new Promise((r) => setTimeout(r, 700));
    expect(await reg.connection('e1')).toBeDefined();
    expect(await reg.connection('e2')).toBeUndefined();
    expect(await redis.ttl(nsKey(run, 'parley:conn:e1'))).toBeGreaterThan(0);
  });

  it('does not report a connection of another user as this user’s route', async () => {
    await reg.register({ userId: 'someone-else', deviceId: 'x1', gatewayId: 'g', connectionId: 'c' }, 30);
    const routes = await reg.routes(['u10'], async () => ['x1']);
    expect(routes).toEqual([{ userId: 'u10', deviceId: 'x1', online: false, gatewayId: '', connectionId: '' }]);
  });
});

describe("the kit's warm read (the message fan-out reads the registry directly)", () => {
  it('sees the routes session wrote, and names the users whose device set is not cached', async () => {
    await reg.routes(['w1'], async () => ['w1-phone', 'w1-laptop']); // session fills w1's set
    await reg.register({ userId: 'w1', deviceId: 'w1-phone', gatewayId: 'gA', connectionId: 'cA' }, 30);
    const { routes, missed } = await readWarmRoutes(redis, run, ['w1', 'w2-never-filled', 'w1']);
    expect(missed).toEqual(['w2-never-filled']);
    expect(routes.sort((a, b) => a.deviceId.localeCompare(b.deviceId))).toEqual([
      { userId: 'w1', deviceId: 'w1-laptop', online: false, gatewayId: '', connectionId: '' },
      { userId: 'w1', deviceId: 'w1-phone', online: true, gatewayId: 'gA', connectionId: 'cA' },
    ]);
    // A removal session records is what the next direct read sees (no copy of the set lives elsewhere).
    await reg.deviceRemoved('w1', 'w1-laptop');
    expect((await readWarmRoutes(redis, run, ['w1'])).routes.map((r) => r.deviceId)).toEqual(['w1-phone']);
    // And session answers the same for both users as before.
    expect((await reg.routes(['w1'], async () => { throw new Error('cached'); })).map((r) => r.deviceId)).toEqual(['w1-phone']);
  });
});
