// Live presence in Redis: which connections each user has (with an expiry kept alive by the gateways'
// heartbeats), each user's online state and lastSeen, presence subscriptions, and typing lapses.
//
// Keys (under the PARLEY_NAMESPACE prefix):
//   parley:pres:c:{<userId>}   hash connectionId → JSON [deviceId, gatewayId]: the user's live connections
//   parley:pres:u:{<userId>}   hash {on: '1'|'0', ls: lastSeen ms, gone: when the last connection went (grace)}
//   parley:pres:exp            zset "<connectionId>|<userId>" → expiry ms (heartbeats push it forward)
//   parley:pres:grace          zset userId → when to show offline unless a connection came back
//   parley:pres:w:{<userId>}   hash subscriber connectionId → JSON [userId, deviceId, gatewayId]: who watches
//   parley:pres:s:<connId>     set of the userIds that connection watches (to drop them with it)
//   parley:pres:sgc            zset "<connectionId>|<userId>" → when to drop the subscriptions of an expired
//                              connection if it has not come back (heartbeats re-create a connection that
//                              expired only because presence or Redis was away; its subscriptions stay)
//   parley:pres:x:{<userId>}:<connId>  a closed connection's tombstone (CLOSED_TOMBSTONE_MS): a heartbeat that
//                              was on its way when the close arrived must not put the connection back
//   parley:typ:exp             zset JSON [chatId, userId] → when that typing lapses
// Every transition (online, offline) is decided inside one Lua script, so with several presence replicas
// exactly one of them sees it and publishes it. The scripts touch a user's keys and the global zsets
// together, so this needs a single Redis (not Redis Cluster); see docs/architecture.md.
import { nsKey, type Redis } from '@parley/kit';
import type { Conn } from '../domain/model.js';
import type { LivePort, Transition, Watcher } from '../domain/ports.js';

/**
 * How long a closed connection's id is remembered, so that a heartbeat batch built before the close and
 * arriving after it cannot bring the connection (and its user's "online") back. Heartbeat calls have a deadline
 * of seconds; two minutes is ample and costs one small key per recent close.
 */
export const CLOSED_TOMBSTONE_MS = 120_000;

const SCRIPTS = {
  /**
   * Adds or refreshes a connection. 1 = the user just came online (was offline, not in a grace window);
   * 2 = a connection this store did not have (new, or lost in a presence/Redis outage) of a user already
   * online; 0 = a refresh; 3 = the connection was closed already (a late heartbeat): nothing changes.
   */
  presOpen: {
    numberOfKeys: 5,
    lua: `if redis.call('EXISTS', KEYS[5]) == 1 then return 3 end
local new = redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3])
redis.call('ZREM', KEYS[4], ARGV[5])
if redis.call('HGET', KEYS[3], 'on') == '1' then
  if new == 1 then return 2 end
  return 0
end
redis.call('HSET', KEYS[3], 'on', '1')
redis.call('EXPIRE', KEYS[3], 2678400)
return 1`,
  },
  /** Removes a connection. 2 = the user is offline now; 1 = last connection gone, grace window started. */
  presClose: {
    numberOfKeys: 5,
    lua: `redis.call('SET', KEYS[5], '1', 'PX', ARGV[6])
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('ZREM', KEYS[2], ARGV[2])
if redis.call('HLEN', KEYS[1]) > 0 then return 0 end
if redis.call('HGET', KEYS[3], 'on') ~= '1' then return 0 end
if tonumber(ARGV[4]) > 0 then
  redis.call('HSET', KEYS[3], 'gone', ARGV[3])
  redis.call('ZADD', KEYS[4], ARGV[4], ARGV[5])
  return 1
end
redis.call('HSET', KEYS[3], 'on', '0', 'ls', ARGV[3])
return 2`,
  },
  /** Expires a connection whose heartbeats stopped. 0 = not expired (refreshed meanwhile), 1 = removed, 2 = and offline. */
  presExpire: {
    numberOfKeys: 3,
    lua: `local sc = redis.call('ZSCORE', KEYS[2], ARGV[2])
if not sc or tonumber(sc) > tonumber(ARGV[3]) then return {0, ''} end
redis.call('ZREM', KEYS[2], ARGV[2])
local v = redis.call('HGET', KEYS[1], ARGV[1]) or ''
redis.call('HDEL', KEYS[1], ARGV[1])
if redis.call('HLEN', KEYS[1]) > 0 then return {1, v} end
if redis.call('HGET', KEYS[3], 'on') ~= '1' then return {1, v} end
redis.call('HSET', KEYS[3], 'on', '0', 'ls', ARGV[3])
return {2, v}`,
  },
  /** Ends a grace window. 2 = the user is offline now (lastSeen = when the last connection went). */
  presGrace: {
    numberOfKeys: 3,
    lua: `local sc = redis.call('ZSCORE', KEYS[3], ARGV[1])
if not sc or tonumber(sc) > tonumber(ARGV[2]) then return 0 end
redis.call('ZREM', KEYS[3], ARGV[1])
if redis.call('HLEN', KEYS[1]) > 0 then return 0 end
if redis.call('HGET', KEYS[2], 'on') ~= '1' then return 0 end
local gone = redis.call('HGET', KEYS[2], 'gone') or ARGV[2]
redis.call('HSET', KEYS[2], 'on', '0', 'ls', gone)
return 2`,
  },
  /** Claims a lapsed typing state unless it was refreshed meanwhile. */
  presTypingLapse: {
    numberOfKeys: 1,
    lua: `local sc = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not sc or tonumber(sc) > tonumber(ARGV[2]) then return 0 end
return redis.call('ZREM', KEYS[1], ARGV[1])`,
  },
} as const;

type Scripted<R> = { [K in keyof typeof SCRIPTS]: (...args: (string | number)[]) => R };
export type { Transition, Watcher } from '../domain/ports.js';

export class LiveStore implements LivePort {
  private readonly scripts: Scripted<Promise<unknown>>;

  constructor(
    private readonly redis: Redis,
    private readonly ns: string,
  ) {
    for (const [name, def] of Object.entries(SCRIPTS)) if (!(name in redis)) redis.defineCommand(name, def);
    this.scripts = redis as unknown as Scripted<Promise<unknown>>;
  }

  private k(key: string): string {
    return nsKey(this.ns, key);
  }
  private connsKey(u: string) {
    return this.k(`parley:pres:c:{${u}}`);
  }
  private stateKey(u: string) {
    return this.k(`parley:pres:u:{${u}}`);
  }
  private watchKey(u: string) {
    return this.k(`parley:pres:w:{${u}}`);
  }
  private closedKey(u: string, connId: string) {
    return this.k(`parley:pres:x:{${u}}:${connId}`);
  }
  private subsKey(connId: string) {
    return this.k(`parley:pres:s:${connId}`);
  }
  private get expKey() {
    return this.k('parley:pres:exp');
  }
  private get graceKey() {
    return this.k('parley:pres:grace');
  }
  private get typingKey() {
    return this.k('parley:typ:exp');
  }
  private get subGcKey() {
    return this.k('parley:pres:sgc');
  }

  /** The keys `presOpen` and `presClose` take first, for one connection. */
  private connKeys(c: Pick<Conn, 'userId' | 'connectionId'>): string[] {
    return [this.connsKey(c.userId), this.expKey, this.stateKey(c.userId), this.graceKey, this.closedKey(c.userId, c.connectionId)];
  }

  /** The keys and arguments of `presOpen` for one connection (open and heartbeat run the same script). */
  private openArgs(c: Conn, expiresAt: number): (string | number)[] {
    return [
      ...this.connKeys(c),
      c.connectionId,
      JSON.stringify([c.deviceId, c.gatewayId]),
      `${c.connectionId}|${c.userId}`,
      expiresAt,
      c.userId,
    ];
  }

  async open(c: Conn, expiresAt: number): Promise<Transition> {
    const r = await this.scripts.presOpen(...this.openArgs(c, expiresAt));
    return r === 1 ? 'online' : 'none';
  }

  /**
   * One pipelined round trip. `came`: the users that came online (their entries had been lost or expired);
   * `revived`: every connection the store did not have (it missed what was sent while it was gone).
   */
  async heartbeat(conns: Conn[], expiresAt: number): Promise<{ came: string[]; revived: Conn[] }> {
    if (!conns.length) return { came: [], revived: [] };
    const p = this.redis.pipeline();
    const s = p as unknown as Scripted<unknown>;
    for (const c of conns) {
      s.presOpen(...this.openArgs(c, expiresAt));
    }
    const res = (await p.exec()) ?? [];
    const came: string[] = [];
    const revived: Conn[] = [];
    res.forEach(([err, v], i) => {
      if (!err && v === 1) came.push(conns[i]!.userId);
      if (!err && (v === 1 || v === 2)) revived.push(conns[i]!);
    });
    return { came, revived };
  }

  async close(c: Pick<Conn, 'userId' | 'connectionId'>, now: number, graceUntil: number): Promise<Transition> {
    const r = await this.scripts.presClose(
      ...this.connKeys(c),
      c.connectionId,
      `${c.connectionId}|${c.userId}`,
      now,
      graceUntil,
      c.userId,
      CLOSED_TOMBSTONE_MS,
    );
    return r === 2 ? 'offline' : r === 1 ? 'grace' : 'none';
  }

  /** Connections whose expiry passed: [connectionId, userId]. */
  async expiredConnections(now: number, limit: number): Promise<[string, string][]> {
    const members = await this.redis.zrangebyscore(this.expKey, 0, now, 'LIMIT', 0, limit);
    return members.map((m) => {
      const i = m.indexOf('|');
      return [m.slice(0, i), m.slice(i + 1)];
    });
  }

  /** 'none' = it was refreshed meanwhile (or another replica took it); 'removed' or 'offline' otherwise. */
  async expire(connectionId: string, userId: string, now: number): Promise<{ result: 'none' | 'removed' | 'offline'; deviceId: string }> {
    const [r, v] = (await this.scripts.presExpire(this.connsKey(userId), this.expKey, this.stateKey(userId), connectionId, `${connectionId}|${userId}`, now)) as [number, string];
    let deviceId = '';
    try {
      if (v) deviceId = (JSON.parse(v) as [string, string])[0];
    } catch {
      /* malformed */
    }
    return { result: r === 2 ? 'offline' : r === 1 ? 'removed' : 'none', deviceId };
  }

  async graceDue(now: number, limit: number): Promise<string[]> {
    return this.redis.zrangebyscore(this.graceKey, 0, now, 'LIMIT', 0, limit);
  }

  /** The lastSeen it recorded when the grace window ends with the user offline, else undefined. */
  async endGrace(userId: string, now: number): Promise<number | undefined> {
    const r = await this.scripts.presGrace(this.connsKey(userId), this.stateKey(userId), this.graceKey, userId, now);
    if (r !== 2) return undefined;
    const ls = await this.redis.hget(this.stateKey(userId), 'ls');
    return ls ? Number(ls) : now;
  }

  async states(userIds: string[]): Promise<Map<string, { online: boolean; lastSeen: number; known: boolean }>> {
    const out = new Map<string, { online: boolean; lastSeen: number; known: boolean }>();
    if (!userIds.length) return out;
    const p = this.redis.pipeline();
    for (const u of userIds) p.hmget(this.stateKey(u), 'on', 'ls');
    const res = (await p.exec()) ?? [];
    userIds.forEach((u, i) => {
      const [err, v] = res[i] ?? [];
      if (err) throw err;
      const [on, ls] = (v as (string | null)[]) ?? [];
      out.set(u, { online: on === '1', lastSeen: ls ? Number(ls) : 0, known: on !== null && on !== undefined });
    });
    return out;
  }

  /** Every live connection of each user (one pipelined round trip). */
  async connections(userIds: string[]): Promise<Conn[]> {
    const users = [...new Set(userIds)];
    if (!users.length) return [];
    const p = this.redis.pipeline();
    for (const u of users) p.hgetall(this.connsKey(u));
    const res = (await p.exec()) ?? [];
    const out: Conn[] = [];
    users.forEach((u, i) => {
      const [err, v] = res[i] ?? [];
      if (err) throw err;
      for (const [connectionId, raw] of Object.entries((v as Record<string, string>) ?? {})) {
        try {
          const [deviceId, gatewayId] = JSON.parse(raw) as [string, string];
          out.push({ userId: u, deviceId, gatewayId, connectionId });
        } catch {
          /* a malformed entry: skipped (expires with its connection) */
        }
      }
    });
    return out;
  }

  // ---- subscriptions ----

  async subscriptionCount(connectionId: string): Promise<number> {
    return this.redis.scard(this.subsKey(connectionId));
  }

  async subscribe(w: Watcher, targets: string[]): Promise<void> {
    if (!targets.length) return;
    const p = this.redis.pipeline();
    const v = JSON.stringify([w.userId, w.deviceId, w.gatewayId]);
    for (const t of targets) p.hset(this.watchKey(t), w.connectionId, v);
    p.sadd(this.subsKey(w.connectionId), ...targets);
    p.expire(this.subsKey(w.connectionId), 2 * 86_400);
    await p.exec();
  }

  async unsubscribe(connectionId: string, targets: string[]): Promise<void> {
    if (!targets.length) return;
    const p = this.redis.pipeline();
    for (const t of targets) p.hdel(this.watchKey(t), connectionId);
    p.srem(this.subsKey(connectionId), ...targets);
    await p.exec();
  }

  /** Drops every subscription of a connection that went away. */
  async dropSubscriptions(connectionId: string): Promise<void> {
    const targets = await this.redis.smembers(this.subsKey(connectionId));
    const p = this.redis.pipeline();
    for (const t of targets) p.hdel(this.watchKey(t), connectionId);
    p.del(this.subsKey(connectionId));
    await p.exec();
  }

  /** Schedules the subscriptions of an expired connection to be dropped at `at` unless it came back. */
  async scheduleSubscriptionGc(connectionId: string, userId: string, at: number): Promise<void> {
    await this.redis.zadd(this.subGcKey, at, `${connectionId}|${userId}`);
  }

  /** Drops the subscriptions of expired connections that did not come back; returns how many. */
  async collectSubscriptions(now: number, limit: number): Promise<number> {
    const due = await this.redis.zrangebyscore(this.subGcKey, 0, now, 'LIMIT', 0, limit);
    let n = 0;
    for (const m of due) {
      if ((await this.redis.zrem(this.subGcKey, m)) !== 1) continue;
      const i = m.indexOf('|');
      const [connId, userId] = [m.slice(0, i), m.slice(i + 1)];
      if (await this.redis.hexists(this.connsKey(userId), connId)) continue; // it came back
      await this.dropSubscriptions(connId);
      n += 1;
    }
    return n;
  }

  async watchers(userId: string): Promise<Watcher[]> {
    const all = await this.redis.hgetall(this.watchKey(userId));
    const out: Watcher[] = [];
    for (const [connectionId, raw] of Object.entries(all)) {
      try {
        const [u, d, g] = JSON.parse(raw) as [string, string, string];
        out.push({ connectionId, userId: u, deviceId: d, gatewayId: g });
      } catch {
        /* skipped */
      }
    }
    return out;
  }

  // ---- typing ----

  /** Records (or refreshes) a typing state; returns the previous lapse time, if it was typing. */
  async typingOn(chatId: string, userId: string, lapseAt: number): Promise<number | undefined> {
    const m = JSON.stringify([chatId, userId]);
    const [[, prev]] = ((await this.redis.multi().zscore(this.typingKey, m).zadd(this.typingKey, lapseAt, m).exec()) ?? [[null, null]]) as [unknown, unknown][] as [[unknown, string | null]];
    return prev ? Number(prev) : undefined;
  }

  /** True if it was typing (and is not any more). */
  async typingOff(chatId: string, userId: string): Promise<boolean> {
    return (await this.redis.zrem(this.typingKey, JSON.stringify([chatId, userId]))) === 1;
  }

  /** Lapsed typing states, each claimed by exactly one caller: [chatId, userId]. */
  async claimLapsedTyping(now: number, limit: number): Promise<[string, string][]> {
    const due = await this.redis.zrangebyscore(this.typingKey, 0, now, 'LIMIT', 0, limit);
    const out: [string, string][] = [];
    for (const m of due) {
      if ((await this.scripts.presTypingLapse(this.typingKey, m, now)) === 1) out.push(JSON.parse(m) as [string, string]);
    }
    return out;
  }
}
