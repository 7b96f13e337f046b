// Online / offline / lastSeen and presence subscriptions (protocol §4, §8.6).
//
// A user is online while at least one connection is live in the store, on any gateway. Gateways report
// connections opened and closed and refresh them every half heartbeat interval with a TTL of two
// intervals, so the connections of a gateway that died (kill -9) expire at most two intervals after its
// last refresh. A connection that goes away without a close frame from the client (network drop, gateway
// restart, token expiry) opens a grace window (PRESENCE_GRACE_MS): a reconnect within it shows nothing to
// subscribers. A client's own close (1000/1001), a connection the gateway cut for silence, and an expiry
// show offline at once.
import { errors, mapLimit, type Logger } from '@parley/kit';
import type { DeliveryPort, LivePort, Watcher } from './ports.js';
import type { Directory } from './directory.js';
import { lastSeenVisible, type Conn, type PresenceState } from './model.js';
import type { SettingsCache } from './settings.js';

export const MAX_SUBSCRIBE_IDS = 500;
/** How long the subscriptions of an expired connection wait for it to come back. */
export const SUBSCRIPTION_GC_MS = 10 * 60_000;

export interface PresenceOptions {
  graceMs: number;
  maxSubscriptions: number;
  now?: () => number;
}

export interface LastSeenArchive {
  writeLastSeen(userId: string, at: number): Promise<void>;
  lastSeen(userIds: string[]): Promise<Map<string, number>>;
}

export class PresenceManager {
  private readonly now: () => number;

  constructor(
    private readonly live: LivePort,
    private readonly settings: SettingsCache,
    private readonly directory: Directory,
    private readonly archive: LastSeenArchive,
    private readonly bus: DeliveryPort,
    private readonly logger: Logger,
    private readonly opts: PresenceOptions,
    /** Called for every connection that opened, or that a heartbeat re-created (receipt replay). */
    private readonly onOpened: (c: Conn) => void = () => {},
  ) {
    this.now = opts.now ?? Date.now;
  }

  async opened(c: Conn, ttlMs: number): Promise<void> {
    const t = await this.live.open(c, this.now() + ttlMs);
    if (t === 'online') await this.publish(c.userId, true, 0);
    this.onOpened(c);
  }

  async closed(c: Conn, immediate: boolean): Promise<void> {
    const now = this.now();
    const t = await this.live.close(c, now, immediate ? 0 : now + this.opts.graceMs);
    await this.live.dropSubscriptions(c.connectionId);
    if (t === 'offline') await this.wentOffline(c.userId, now);
  }

  async heartbeat(conns: Conn[], ttlMs: number): Promise<void> {
    const { came, revived } = await this.live.heartbeat(conns, this.now() + ttlMs);
    for (const c of revived) this.onOpened(c); // receipts sent while the store did not know it (replay)
    await mapLimit([...new Set(came)], 16, (u) => this.publish(u, true, 0));
  }

  /** Expired connections and ended grace windows; returns how many users went offline. */
  async sweep(batch = 500): Promise<number> {
    const now = this.now();
    let offline = 0;
    for (const [connId, userId] of await this.live.expiredConnections(now, batch)) {
      const r = await this.live.expire(connId, userId, now);
      if (r.result === 'none') continue;
      // Not dropped at once: a connection also expires when presence or Redis was away while the gateway
      // kept it open; the gateway's next heartbeat re-creates it, and its subscriptions must still be there.
      await this.live.scheduleSubscriptionGc(connId, userId, now + SUBSCRIPTION_GC_MS);
      if (r.result === 'offline') {
        offline += 1;
        await this.wentOffline(userId, now);
      }
    }
    await this.live.collectSubscriptions(now, batch);
    for (const userId of await this.live.graceDue(now, batch)) {
      const ls = await this.live.endGrace(userId, now);
      if (ls !== undefined) {
        offline += 1;
        await this.wentOffline(userId, ls);
      }
    }
    return offline;
  }

  private async wentOffline(userId: string, at: number): Promise<void> {
    this.archive.writeLastSeen(userId, at).catch((err: unknown) => this.logger.warn({ err, userId }, 'lastSeen not archived'));
    await this.publish(userId, false, at);
  }

  /** One `presence` event to every connection watching `userId`, with lastSeen as each watcher may see it. */
  private async publish(userId: string, online: boolean, lastSeen: number): Promise<void> {
    const watchers = await this.live.watchers(userId);
    if (!watchers.length) return;
    const visible: Conn[] = [];
    const hidden: Conn[] = [];
    if (online || lastSeen <= 0) {
      visible.push(...watchers);
    } else {
      const s = await this.settings.get(userId);
      const viewers = [...new Set(watchers.map((w) => w.userId))];
      const ok = new Map<string, boolean>();
      await mapLimit(viewers, 16, async (v) => {
        ok.set(v, lastSeenVisible(userId, v, s.lastSeen, s.lastSeen === 'contacts' ? await this.directory.isContact(userId, v) : false));
      });
      for (const w of watchers) (ok.get(w.userId) ? visible : hidden).push(w);
    }
    await Promise.all([
      this.bus.send(visible, { case: 'presence', value: { userId, online, lastSeen: BigInt(online ? 0 : lastSeen) } }),
      this.bus.send(hidden, { case: 'presence', value: { userId, online, lastSeen: 0n } }),
    ]);
  }

  async subscribe(w: Watcher, userIds: string[]): Promise<PresenceState[]> {
    const ids = [...new Set(userIds)];
    if (ids.length > MAX_SUBSCRIBE_IDS) throw errors.badRequest(`userIds: at most ${MAX_SUBSCRIBE_IDS}`);
    if (ids.some((u) => typeof u !== 'string' || u.length === 0 || u.length > 128)) throw errors.badRequest('userIds: each must be 1–128 characters');
    if (!w.connectionId) throw errors.badRequest('connectionId is required');
    if (!ids.length) return [];
    const have = await this.live.subscriptionCount(w.connectionId);
    if (have + ids.length > this.opts.maxSubscriptions) throw errors.badRequest(`userIds: a connection may watch at most ${this.opts.maxSubscriptions} users`);
    // Subscribe first, then read: a change in between is seen twice, never missed.
    await this.live.subscribe(w, ids);
    return this.current(w.userId, ids);
  }

  async unsubscribe(connectionId: string, userIds: string[]): Promise<void> {
    if (!connectionId) throw errors.badRequest('connectionId is required');
    await this.live.unsubscribe(connectionId, [...new Set(userIds)]);
  }

  /**
   * The presence of `userIds` as `viewer` may see it. Users never seen (or that do not exist) are offline
   * with no lastSeen: the answer never tells whether an id exists.
   */
  async current(viewer: string, userIds: string[]): Promise<PresenceState[]> {
    const states = await this.live.states(userIds);
    const unknown = userIds.filter((u) => !states.get(u)?.known);
    const archived = unknown.length ? await this.archive.lastSeen(unknown).catch(() => new Map<string, number>()) : new Map<string, number>();
    return mapLimit(userIds, 16, async (u) => {
      const s = states.get(u);
      const online = s?.online ?? false;
      const ls = online ? 0 : s?.known ? s.lastSeen : (archived.get(u) ?? 0);
      if (online || ls <= 0) return { userId: u, online, lastSeen: 0 };
      const set = await this.settings.get(u);
      const visible = lastSeenVisible(u, viewer, set.lastSeen, set.lastSeen === 'contacts' ? await this.directory.isContact(u, viewer) : false);
      return { userId: u, online, lastSeen: visible ? ls : 0 };
    });
  }
}
