// The fan-out's route lookup against the real Redis: warm users are read from the registry, only the users
// whose device set is not cached go to session (a fake of the RoutesPort here), and concurrent lookups share
// round trips.
import { createLogger, createRedis, registryKeys, DEVICE_SET_SENTINEL, type DeviceRoute, type Redis } from '@parley/kit';
import { envSpec } from '../src/config.js';
import { RegistryRoutes } from '../src/adapters/peers.js';
import type { RoutesPort } from '../src/domain/ports.js';

const run = `rr${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
const cfg = envSpec.parse({ ...process.env, PARLEY_NAMESPACE: run });
let redis: Redis;

class FakeSession implements RoutesPort {
  calls: string[][] = [];
  async getDeviceRoutes(userIds: string[]): Promise<DeviceRoute[]> {
    this.calls.push([...userIds]);
    return userIds.map((userId) => ({ userId, deviceId: `${userId}-cold`, online: false, gatewayId: '', connectionId: '' }));
  }
}

beforeAll(async () => {
  redis = createRedis(cfg.redisUrl, { logger: createLogger('registry-routes-test', 'silent'), name: 'registry-routes-test' });
  // What session writes (services/session/src/adapters/registry.ts): complete device sets and live connections.
  for (const [u, devices] of [['alice', ['a1', 'a2']], ['bob', ['b1']], ['nodevices', []]] as const) {
    await redis.sadd(registryKeys.devices(run, u), DEVICE_SET_SENTINEL, ...devices);
  }
  await redis.hset(registryKeys.connection(run, 'a1'), { u: 'alice', g: 'gw-0', c: 'conn-a1' });
  await redis.hset(registryKeys.connection(run, 'b1'), { u: 'bob', g: 'gw-1', c: 'conn-b1' });
  // A device id whose connection key names another user is not that user's route.
  await redis.hset(registryKeys.connection(run, 'a2'), { u: 'mallory', g: 'gw-9', c: 'conn-x' });
});

afterAll(async () => {
  const keys = await redis.keys(`${run}:*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
});

const byDevice = (rs: DeviceRoute[]) => [...rs].sort((a, b) => a.deviceId.localeCompare(b.deviceId));

it('reads warm users from the registry and asks session only for the rest', async () => {
  const session = new FakeSession();
  const seen: Array<[number, number]> = [];
  const routes = new RegistryRoutes(redis, run, session, 4096, (warm, missed) => seen.push([warm, missed]));
  const got = await routes.getDeviceRoutes(['alice', 'bob', 'carol', 'nodevices']);
  expect(byDevice(got)).toEqual([
    { userId: 'alice', deviceId: 'a1', online: true, gatewayId: 'gw-0', connectionId: 'conn-a1' },
    { userId: 'alice', deviceId: 'a2', online: false, gatewayId: '', connectionId: '' },
    { userId: 'bob', deviceId: 'b1', online: true, gatewayId: 'gw-1', connectionId: 'conn-b1' },
    { userId: 'carol', deviceId: 'carol-cold', online: false, gatewayId: '', connectionId: '' },
  ]);
  expect(session.calls).toEqual([['carol']]);
  expect(seen).toEqual([[3, 1]]);
});

it('does not call session when every set is cached', async () => {
  const session = new FakeSession();
  const routes = new RegistryRoutes(redis, run, session);
  expect((await routes.getDeviceRoutes(['bob'])).map((r) => r.deviceId)).toEqual(['b1']);
  expect(session.calls).toEqual([]);
});

it('shares one lookup among the fan-outs that queue while one is in flight, each getting only its users', async () => {
  const session = new FakeSession();
  const sizes: number[] = [];
  const routes = new RegistryRoutes(redis, run, session, 4096, (warm, missed) => sizes.push(warm + missed));
  const [a, b, c] = await Promise.all([routes.getDeviceRoutes(['alice']), routes.getDeviceRoutes(['bob', 'dave']), routes.getDeviceRoutes(['erin'])]);
  expect(a.map((r) => r.userId)).toEqual(['alice', 'alice']);
  expect(byDevice(b).map((r) => r.deviceId)).toEqual(['b1', 'dave-cold']);
  expect(c.map((r) => r.deviceId)).toEqual(['erin-cold']);
  // The first lookup starts alone; the two that queued behind it go together.
  expect(sizes).toEqual([1, 3]);
  expect(session.calls).toEqual([['dave', 'erin']]);
});

it('fails the lookups of a batch when session fails for its cold users', async () => {
  const failing: RoutesPort = { getDeviceRoutes: async () => { throw new Error('session down'); } };
  const routes = new RegistryRoutes(redis, run, failing);
  await expect(routes.getDeviceRoutes(['alice', 'zoe'])).rejects.toThrow('session down');
  // A later lookup of warm users alone does not need session.
  expect((await routes.getDeviceRoutes(['bob'])).map((r) => r.deviceId)).toEqual(['b1']);
});
