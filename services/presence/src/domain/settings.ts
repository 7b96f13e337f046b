// Privacy settings with a short per-replica cache (PRESENCE_SETTINGS_CACHE_MS): a change made through
// another replica is seen here within that time; the replica that made it sees it at once.
import { mapLimit } from '@parley/kit';
import type { UserSettings } from './model.js';

export interface SettingsPort {
  get(userId: string): Promise<UserSettings>;
  update(userId: string, patch: Partial<UserSettings>): Promise<void>;
}

export class SettingsCache {
  private readonly cache = new Map<string, { v: UserSettings; exp: number }>();

  constructor(
    private readonly store: SettingsPort,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  async get(userId: string): Promise<UserSettings> {
    const now = this.now();
    const hit = this.cache.get(userId);
    if (hit && hit.exp > now) return hit.v;
    const v = await this.store.get(userId);
    if (this.cache.size >= 100_000) this.cache.clear();
    this.cache.set(userId, { v, exp: now + this.ttlMs });
    return v;
  }

  async getMany(userIds: Iterable<string>): Promise<Map<string, UserSettings>> {
    const ids = [...new Set(userIds)];
    const vals = await mapLimit(ids, 32, (u) => this.get(u));
    return new Map(ids.map((u, i) => [u, vals[i]!]));
  }

  /** Durable before it returns; answers the whole settings object as stored. */
  async update(userId: string, patch: Partial<UserSettings>): Promise<UserSettings> {
    await this.store.update(userId, patch);
    this.cache.delete(userId);
    return this.get(userId);
  }
}
