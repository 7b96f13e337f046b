// The live connection registry in Redis: device → {user, gateway, connection} with a TTL kept alive by
// gateway heartbeats, a cached set of each user's active devices, and the gateways' delivery channels.
import { nsKey, type Redis } from '@parley/kit';

export interface LiveConnection {
  userId: string;
  deviceId: string;
  gatewayId: string;
  connectionId: string;
}

export interface Route {
  userId: string;
  deviceId: string;
  online: boolean;
  gatewayId: string;
  connectionId: string;
}

/** Deletes the connection key only if it still belongs to this connection (a reconnect elsewhere wins). */
const UNREGISTER = `
if redis.call('HGET', KEYS[1], 'c') == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

const SENTINEL = '-';

export class ConnectionRegistry {
  constructor(
    private readonly redis: Redis,
    private readonly ns: string,
  ) {}

  private connKey(deviceId: string): string {
    return nsKey(this.ns, `parley:conn:${deviceId}`);
  }

  private devicesKey(userId: string): string {
    return nsKey(this.ns, `parley:udev:${userId}`);
  }

  gatewayChannel(gatewayId: string): string {
    return nsKey(this.ns, `parley:gw:${gatewayId}`);
  }

  async register(c: LiveConnection, ttlSeconds: number): Promise<void> {
    await this.redis.multi().hset(this.connKey(c.deviceId), { u: c.userId, g: c.gatewayId, c: c.connectionId }).expire(this.connKey(c.deviceId), ttlSeconds).exec();
  }

  async unregister(c: LiveConnection): Promise<boolean> {
    return (await this.redis.eval(UNREGISTER, 1, this.connKey(c.deviceId), c.connectionId)) === 1;
  }

  /** Re-asserts every connection a gateway holds (also heals a Redis restart). */
  async heartbeat(conns: LiveConnection[], ttlSeconds: number): Promise<void> {
    if (!conns.length) return;
    const p = this.redis.pipeline();
    for (const c of conns) {
      p.hset(this.connKey(c.deviceId), { u: c.userId, g: c.gatewayId, c: c.connectionId });
      p.expire(this.connKey(c.deviceId), ttlSeconds);
    }
    await p.exec();
  }

  async connection(deviceId: string): Promise<LiveConnection | undefined> {
    const h = await this.redis.hgetall(this.connKey(deviceId));
    if (!h.c || !h.g || !h.u) return undefined;
    return { userId: h.u, deviceId, gatewayId: h.g, connectionId: h.c };
  }

  async addDevice(userId: string, deviceId: string): Promise<void> {
    // Only maintain a set that exists; a missing set is rebuilt from Cassandra on the next read.
    const key = this.devicesKey(userId);
    await this.redis.eval(
      "if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('SADD', KEYS[1], ARGV[1]) end return 1",
      1,
      key,
      deviceId,
    );
  }

  async removeDevice(userId: string, deviceId: string): Promise<void> {
    await this.redis.srem(this.devicesKey(userId), deviceId);
  }

  /**
   * Every active device of each user with its live connection, in two pipelined round trips; device sets
   * missing from Redis are loaded with `loadDevices` and cached.
   */
  async routes(userIds: string[], loadDevices: (userId: string) => Promise<string[]>): Promise<Route[]> {
    const users = [...new Set(userIds)];
    if (!users.length) return [];
    const p1 = this.redis.pipeline();
    for (const u of users) p1.smembers(this.devicesKey(u));
    const sets = (await p1.exec()) ?? [];
    const devicesByUser = new Map<string, string[]>();
    const misses: string[] = [];
    users.forEach((u, i) => {
      const members = (sets[i]?.[1] as string[] | undefined) ?? [];
      if (!members.includes(SENTINEL)) misses.push(u);
      else devicesByUser.set(u, members.filter((m) => m !== SENTINEL));
    });
    if (misses.length) {
      const loaded = await Promise.all(misses.map(async (u) => [u, await loadDevices(u)] as const));
      const fill = this.redis.pipeline();
      for (const [u, devs] of loaded) {
        devicesByUser.set(u, devs);
        fill.sadd(this.devicesKey(u), SENTINEL, ...devs);
        fill.expire(this.devicesKey(u), 86_400);
      }
      await fill.exec();
    }
    const pairs: [string, string][] = [];
    for (const [u, devs] of devicesByUser) for (const d of devs) pairs.push([u, d]);
    if (!pairs.length) return [];
    const p2 = this.redis.pipeline();
    for (const [, d] of pairs) p2.hgetall(this.connKey(d));
    const conns = (await p2.exec()) ?? [];
    return pairs.map(([userId, deviceId], i) => {
      const h = (conns[i]?.[1] as Record<string, string> | undefined) ?? {};
      const online = Boolean(h.c && h.g && h.u === userId);
      return { userId, deviceId, online, gatewayId: online ? h.g! : '', connectionId: online ? h.c! : '' };
    });
  }

  async publish(gatewayId: string, payload: Uint8Array): Promise<void> {
    await this.redis.publish(this.gatewayChannel(gatewayId), Buffer.from(payload));
  }
}
