// The live connection registry in Redis: device → {user, gateway, connection} with a TTL kept alive by
// gateway heartbeats, a cached set of each user's active devices, and the gateways' delivery channels.
// The keys and the warm read path are the kit's (`route-registry.ts`: the message service's fan-out reads
// them directly); this service is their only writer and fills a user's device set from Cassandra.
//
// Keys (under the PARLEY_NAMESPACE prefix), besides the kit's parley:conn:<deviceId>, parley:udev:{<userId>}
// and parley:udev:{<userId>}:gen:
//   parley:gw:<gatewayId>           pub/sub delivery channel of one gateway
//   parley:gw-all                   pub/sub channel every gateway listens to (device revocations)
import { DEVICE_SET_SENTINEL, gatewayBroadcastChannel, gatewayChannel, mapLimit, readConnections, readDeviceSets, registryKeys, type Redis } from '@parley/kit';
import type { LiveConnection, RegistryPort, Route } from '../domain/ports.js';

export type { LiveConnection, Route };

const SENTINEL = DEVICE_SET_SENTINEL;
const DEVICE_SET_TTL_SECONDS = 86_400;
const GEN_TTL_SECONDS = 2 * 86_400;
const LOAD_CONCURRENCY = 64;

const SCRIPTS = {
  /** Deletes the connection key only if it still belongs to this connection (a reconnect elsewhere wins). */
  parleyUnregister: {
    numberOfKeys: 1,
    lua: `if redis.call('HGET', KEYS[1], 'c') == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`,
  },
  /** Extends this connection's entry, or re-creates it if Redis lost it; never overwrites another connection. */
  parleyHeartbeat: {
    numberOfKeys: 1,
    lua: `local cur = redis.call('HGET', KEYS[1], 'c')
if cur == false then
  redis.call('HSET', KEYS[1], 'u', ARGV[1], 'g', ARGV[2], 'c', ARGV[3])
  redis.call('EXPIRE', KEYS[1], ARGV[4])
  return 1
elseif cur == ARGV[3] then
  redis.call('EXPIRE', KEYS[1], ARGV[4])
  return 1
end
return 0`,
  },
  parleyDeviceAdded: {
    numberOfKeys: 2,
    lua: `redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], ARGV[2])
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('SADD', KEYS[1], ARGV[1]) end
return 1`,
  },
  parleyDeviceRemoved: {
    numberOfKeys: 2,
    lua: `redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], ARGV[2])
redis.call('SREM', KEYS[1], ARGV[1])
return 1`,
  },
  /** Caches a device set read from Cassandra, unless a device was added or removed since (generation moved). */
  parleyFillDevices: {
    numberOfKeys: 2,
    lua: `local g = redis.call('GET', KEYS[2]) or ''
if g ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('SADD', KEYS[1], unpack(ARGV, 4))
redis.call('EXPIRE', KEYS[1], ARGV[2])
if g ~= '' then redis.call('EXPIRE', KEYS[2], ARGV[3]) end
return 1`,
  },
} as const;

type ScriptArg = string | number;
type Scripted<R> = { [K in keyof typeof SCRIPTS]: (...args: ScriptArg[]) => R };
type Pipeline = ReturnType<Redis['pipeline']>;

export class ConnectionRegistry implements RegistryPort {
  private readonly scripts: Scripted<Promise<unknown>>;

  constructor(
    private readonly redis: Redis,
    private readonly ns: string,
  ) {
    for (const [name, def] of Object.entries(SCRIPTS)) {
      if (!(name in redis)) redis.defineCommand(name, def);
    }
    this.scripts = redis as unknown as Scripted<Promise<unknown>>;
  }

  private scripted(p: Pipeline): Scripted<Pipeline> {
    return p as unknown as Scripted<Pipeline>;
  }

  private connKey(deviceId: string): string {
    return registryKeys.connection(this.ns, deviceId);
  }

  private devicesKey(userId: string): string {
    return registryKeys.devices(this.ns, userId);
  }

  private genKey(userId: string): string {
    return registryKeys.generation(this.ns, userId);
  }

  gatewayChannel(gatewayId: string): string {
    return gatewayChannel(this.ns, gatewayId);
  }

  async register(c: LiveConnection, ttlSeconds: number): Promise<void> {
    const key = this.connKey(c.deviceId);
    await this.redis.multi().del(key).hset(key, { u: c.userId, g: c.gatewayId, c: c.connectionId }).expire(key, ttlSeconds).exec();
  }

  async unregister(c: LiveConnection): Promise<boolean> {
    return (await this.scripts.parleyUnregister(this.connKey(c.deviceId), c.connectionId)) === 1;
  }

  /** One pipelined round trip for all the connections a gateway holds. */
  async heartbeat(conns: LiveConnection[], ttlSeconds: number): Promise<void> {
    if (!conns.length) return;
    const p = this.redis.pipeline();
    const s = this.scripted(p);
    for (const c of conns) s.parleyHeartbeat(this.connKey(c.deviceId), c.userId, c.gatewayId, c.connectionId, ttlSeconds);
    await p.exec();
  }

  async connection(deviceId: string): Promise<LiveConnection | undefined> {
    const [u, g, c] = await this.redis.hmget(this.connKey(deviceId), 'u', 'g', 'c');
    if (!u || !g || !c) return undefined;
    return { userId: u, deviceId, gatewayId: g, connectionId: c };
  }

  async deviceAdded(userId: string, deviceId: string): Promise<void> {
    await this.scripts.parleyDeviceAdded(this.devicesKey(userId), this.genKey(userId), deviceId, GEN_TTL_SECONDS);
  }

  async deviceRemoved(userId: string, deviceId: string): Promise<void> {
    await this.scripts.parleyDeviceRemoved(this.devicesKey(userId), this.genKey(userId), deviceId, GEN_TTL_SECONDS);
  }

  /**
   * Every active device of each user with its live connection. Warm: two pipelined round trips (device sets,
   * then connections). Users whose set is not cached cost one more round trip (their generations), a
   * Cassandra read each (`loadDevices`, 64 at a time) and a pipelined fill.
   */
  async routes(userIds: string[], loadDevices: (userId: string) => Promise<string[]>): Promise<Route[]> {
    const users = [...new Set(userIds)];
    if (!users.length) return [];
    const { devices: devicesByUser, missed } = await readDeviceSets(this.redis, this.ns, users);
    if (missed.length) {
      // The generations are read before Cassandra is: a fill only lands if no add/remove happened since.
      const pg = this.redis.pipeline();
      for (const u of missed) pg.get(this.genKey(u));
      const gens = (await pg.exec()) ?? [];
      const misses = missed.map((userId, i) => {
        const [err, gen] = gens[i] ?? [];
        if (err) throw err;
        return { userId, gen: typeof gen === 'string' ? gen : '' };
      });
      const loaded = await mapLimit(misses, LOAD_CONCURRENCY, async (m) => ({ ...m, devices: await loadDevices(m.userId) }));
      const fill = this.redis.pipeline();
      const s = this.scripted(fill);
      for (const m of loaded) {
        devicesByUser.set(m.userId, m.devices);
        s.parleyFillDevices(this.devicesKey(m.userId), this.genKey(m.userId), m.gen, DEVICE_SET_TTL_SECONDS, GEN_TTL_SECONDS, SENTINEL, ...m.devices);
      }
      await fill.exec();
    }
    // In the order the users were asked for.
    const ordered = new Map<string, string[]>();
    for (const u of users) ordered.set(u, devicesByUser.get(u) ?? []);
    return readConnections(this.redis, this.ns, ordered);
  }

  async publish(gatewayId: string, payload: Uint8Array): Promise<void> {
    await this.redis.publish(this.gatewayChannel(gatewayId), Buffer.from(payload));
  }

  /** To every gateway: for the rare deliveries that must reach every connection of a device. */
  async broadcast(payload: Uint8Array): Promise<void> {
    await this.redis.publish(gatewayBroadcastChannel(this.ns), Buffer.from(payload));
  }
}


