// The live connection registry's layout in Redis and its warm read path. The session service owns the
// registry: it writes every key (connections, heartbeats, device sets) and fills a user's device set from
// Cassandra when it is not cached. Readers that route deliveries (the message service's fan-out) read the
// warm path here directly, without a gRPC hop through session, and ask session only for the users whose set
// is not cached (`missed`), which session then fills (docs/architecture.md §4, "Devices").
//
// Keys (under the PARLEY_NAMESPACE prefix):
//   parley:conn:<deviceId>          hash {u, g, c}, TTL SESSION_CONNECTION_TTL_SECONDS
//   parley:udev:{<userId>}          set of the user's active device ids + a sentinel ("-": the set is complete)
//   parley:udev:{<userId>}:gen      counter bumped on every device add/remove; a cache fill only lands if it
//                                   did not move since the fill read Cassandra (no stale set can survive a race)
// The braces keep a user's two keys in one Redis Cluster slot, as session's scripts need.
import type { DeviceRoute } from './gateway-delivery.js';
import { nsKey } from './config.js';
import type { Redis } from './redis.js';

/** The member that marks a user's cached device set as complete (an empty set is just the sentinel). */
export const DEVICE_SET_SENTINEL = '-';

export const registryKeys = {
  connection: (ns: string, deviceId: string) => nsKey(ns, `parley:conn:${deviceId}`),
  devices: (ns: string, userId: string) => nsKey(ns, `parley:udev:{${userId}}`),
  generation: (ns: string, userId: string) => nsKey(ns, `parley:udev:{${userId}}:gen`),
};

/**
 * The cached device sets of `users` (one pipelined round trip): each user whose set is complete, with its
 * devices, and the users whose set is not cached.
 */
export async function readDeviceSets(redis: Redis, ns: string, users: readonly string[]): Promise<{ devices: Map<string, string[]>; missed: string[] }> {
  const devices = new Map<string, string[]>();
  const missed: string[] = [];
  if (!users.length) return { devices, missed };
  const p = redis.pipeline();
  for (const u of users) p.smembers(registryKeys.devices(ns, u));
  const r = (await p.exec()) ?? [];
  users.forEach((u, i) => {
    const [err, members] = r[i] ?? [];
    const list = !err && Array.isArray(members) ? (members as string[]) : [];
    if (list.includes(DEVICE_SET_SENTINEL)) devices.set(u, list.filter((m) => m !== DEVICE_SET_SENTINEL));
    else missed.push(u);
  });
  return { devices, missed };
}

/** Each (user, device) with its live connection, if any (one pipelined round trip). */
export async function readConnections(redis: Redis, ns: string, devices: ReadonlyMap<string, readonly string[]>): Promise<DeviceRoute[]> {
  const pairs: [string, string][] = [];
  for (const [u, list] of devices) for (const d of list) pairs.push([u, d]);
  if (!pairs.length) return [];
  const p = redis.pipeline();
  for (const [, d] of pairs) p.hmget(registryKeys.connection(ns, d), 'u', 'g', 'c');
  const r = (await p.exec()) ?? [];
  return pairs.map(([userId, deviceId], i) => {
    // A failed read counts as offline (the device gets a push and its backlog), as it always has in session.
    const [u, g, c] = ((r[i]?.[1] as (string | null)[] | undefined) ?? []) as (string | null | undefined)[];
    const online = Boolean(g && c && u === userId);
    return { userId, deviceId, online, gatewayId: online ? g! : '', connectionId: online ? c! : '' };
  });
}

/**
 * Device routes of the users whose device set is cached, read from the registry (two pipelined round trips),
 * and the users whose set is not (their routes must come from session, which fills the cache).
 */
export async function readWarmRoutes(redis: Redis, ns: string, userIds: readonly string[]): Promise<{ routes: DeviceRoute[]; missed: string[] }> {
  const { devices, missed } = await readDeviceSets(redis, ns, [...new Set(userIds)]);
  return { routes: await readConnections(redis, ns, devices), missed };
}
