// The live presence store against the real Redis: the transitions the Lua scripts decide (online, grace,
// offline, expiry of a dead gateway's connections), each seen by exactly one caller.
import { createLogger, createRedis, type Redis } from '@parley/kit';
import { envSpec } from '../src/config.js';
import { LiveStore } from '../src/adapters/live-store.js';

const run = `p${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
const cfg = envSpec.parse({ ...process.env, PARLEY_NAMESPACE: run });
let redis: Redis;
let live: LiveStore;
const conn = (u: string, c: string, gw = 'gw1') => ({ userId: u, deviceId: `${u}-d`, gatewayId: gw, connectionId: c });

beforeAll(() => {
  redis = createRedis(cfg.redisUrl, { logger: createLogger('live-store-test', 'silent'), name: 'live-store-test' });
  live = new LiveStore(redis, run);
});

afterAll(async () => {
  const keys = await redis.keys(`${run}:*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
});

it('online with the first connection, offline only when the last one closes cleanly', async () => {
  expect(await live.open(conn('a', 'c1'), 10_000)).toBe('online');
  expect(await live.open(conn('a', 'c2', 'gw2'), 10_000)).toBe('none');
  expect(await live.close(conn('a', 'c1'), 100, 0)).toBe('none');
  expect((await live.connections(['a'])).map((c) => c.gatewayId)).toEqual(['gw2']);
  expect(await live.close(conn('a', 'c2'), 200, 0)).toBe('offline');
  expect((await live.states(['a'])).get('a')).toEqual({ online: false, lastSeen: 200, known: true });
  expect(await live.close(conn('a', 'c2'), 300, 0)).toBe('none'); // a repeated close changes nothing
});

it('a reconnect within the grace window shows nothing; without one, offline with lastSeen = when it went', async () => {
  await live.open(conn('b', 'c1'), 10_000);
  expect(await live.close(conn('b', 'c1'), 1000, 3000)).toBe('grace');
  expect(await live.open(conn('b', 'c2'), 10_000)).toBe('none'); // back in time: no online event
  expect(await live.endGrace('b', 4000)).toBeUndefined();
  expect(await live.close(conn('b', 'c2'), 5000, 7000)).toBe('grace');
  expect(await live.graceDue(6000, 10)).not.toContain('b');
  expect(await live.graceDue(7000, 10)).toContain('b');
  const [x, y] = await Promise.all([live.endGrace('b', 7000), live.endGrace('b', 7000)]);
  expect([x, y].filter((v) => v !== undefined)).toEqual([5000]); // exactly one caller sees the transition
});

it("a dead gateway's connections expire; a heartbeat in time keeps them and re-creates lost ones", async () => {
  await live.open(conn('c', 'c1'), 1000);
  await live.open(conn('d', 'c9'), 1000);
  expect(await live.heartbeat([conn('d', 'c9')], 5000)).toEqual({ came: [], revived: [] }); // refreshed, no transition
  const due = await live.expiredConnections(2000, 100);
  expect(due).toContainEqual(['c1', 'c']);
  expect(due).not.toContainEqual(['c9', 'd']);
  const results = await Promise.all([live.expire('c1', 'c', 2000), live.expire('c1', 'c', 2000)]);
  expect(results.map((r) => r.result).sort()).toEqual(['none', 'offline']);
  expect(results.find((r) => r.result === 'offline')!.deviceId).toBe('c-d');
  // the gateway was alive after all (presence was away): its next heartbeat brings the user back
  expect(await live.heartbeat([conn('c', 'c1')], 9000)).toEqual({ came: ['c'], revived: [conn('c', 'c1')] });
  // a second device of an online user that the store lost: not a transition, but revived (receipt replay)
  expect(await live.heartbeat([conn('c', 'c2', 'gw2')], 9000)).toEqual({ came: [], revived: [conn('c', 'c2', 'gw2')] });
});

it('subscriptions of an expired connection survive until collected, and only if it did not come back', async () => {
  const w = { connectionId: 'wc', userId: 'w', deviceId: 'w-d', gatewayId: 'gw1' };
  await live.open(conn('w', 'wc'), 1000);
  await live.subscribe(w, ['t1', 't2']);
  expect((await live.watchers('t1')).map((x) => x.connectionId)).toEqual(['wc']);
  await live.scheduleSubscriptionGc('wc', 'w', 10);
  expect(await live.collectSubscriptions(100, 10)).toBe(0); // still connected: kept
  expect((await live.watchers('t2')).length).toBe(1);
  await live.close(conn('w', 'wc'), 200, 0);
  await live.scheduleSubscriptionGc('wc', 'w', 300);
  expect(await live.collectSubscriptions(400, 10)).toBe(1);
  expect(await live.watchers('t1')).toEqual([]);
});

it('typing lapses once, unless refreshed', async () => {
  expect(await live.typingOn('chat', 'u', 1000)).toBeUndefined();
  expect(await live.typingOn('chat', 'u', 3000)).toBe(1000); // refresh
  expect(await live.claimLapsedTyping(2000, 10)).toEqual([]);
  expect(await live.claimLapsedTyping(3000, 10)).toEqual([['chat', 'u']]);
  expect(await live.claimLapsedTyping(4000, 10)).toEqual([]);
  expect(await live.typingOff('chat', 'u')).toBe(false);
});

it('a heartbeat that arrives after the close does not bring the connection back (the race the churn bench found)', async () => {
  expect(await live.open(conn('h', 'c1'), 10_000)).toBe('online');
  expect(await live.close(conn('h', 'c1'), 1000, 0)).toBe('offline');
  // The gateway's heartbeat batch was built before the close and reaches presence after it.
  expect(await live.heartbeat([conn('h', 'c1')], 20_000)).toEqual({ came: [], revived: [] });
  expect(await live.connections(['h'])).toEqual([]);
  expect((await live.states(['h'])).get('h')).toEqual({ online: false, lastSeen: 1000, known: true });
  // A close that finds the connection already expired still leaves the tombstone.
  expect(await live.open(conn('h', 'c2'), 10_000)).toBe('online');
  expect(await live.close(conn('h', 'c3'), 1100, 0)).toBe('none');
  expect(await live.heartbeat([conn('h', 'c3')], 20_000)).toEqual({ came: [], revived: [] });
  // Other connections of the user are untouched.
  expect(await live.heartbeat([conn('h', 'c2')], 20_000)).toEqual({ came: [], revived: [] });
  expect((await live.connections(['h'])).map((c) => c.connectionId)).toEqual(['c2']);
});
