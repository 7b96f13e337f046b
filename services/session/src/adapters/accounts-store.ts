// Cassandra adapter for users, usernames, devices and refresh tokens.
import { BatchedLookup, GroupCommit, executeChunks, type CassandraClient } from '@parley/kit';
import type { AccountsPort, DeviceRow, RefreshRow, UserRow } from '../domain/ports.js';

const num = (v: unknown): number | undefined => (v === null || v === undefined ? undefined : Number(v));

const DEVICE_COLUMNS = 'user_id, device_id, device_name, created_at, last_seen_at, removed_at';
const deviceKey = (userId: string, deviceId: string) => `${userId}\u0000${deviceId}`;

export class AccountsStore implements AccountsPort {
  /**
   * Device reads and last-seen writes are group-committed with the concurrent ones (the kit's GroupCommit):
   * every connect reads its device row and writes last_seen_at, and a burst of connects (a gateway restart,
   * 400 upgrades in flight) becomes one `IN` read per up to 100 users and one unlogged batch of writes, not
   * two requests per upgrade.
   */
  private readonly devices = new BatchedLookup<string, DeviceRow>((keys) => this.readDevices(keys), { maxKeys: 100, maxInFlight: 4 });
  private readonly touches = new GroupCommit<{ userId: string; deviceId: string; at: number }, void>(
    async (items) => {
      await executeChunks(
        this.db,
        items.map((i) => ({ query: 'UPDATE devices SET last_seen_at = ? WHERE user_id = ? AND device_id = ?', params: [i.req.at, i.req.userId, i.req.deviceId] })),
        64,
      );
      for (const i of items) i.resolve();
    },
    { maxBatch: 256, maxInFlight: 4 },
  );

  constructor(private readonly db: CassandraClient) {}

  async createUser(u: UserRow): Promise<void> {
    await this.db.execute('INSERT INTO users (user_id, username, display_name, password_hash, created_at) VALUES (?, ?, ?, ?, ?)', [
      u.userId,
      u.username,
      u.displayName,
      u.passwordHash,
      u.createdAt,
    ]);
  }

  /** Lightweight transaction: true when this user got the name. */
  async claimUsername(username: string, userId: string): Promise<boolean> {
    const rs = await this.db.execute('INSERT INTO usernames (username, user_id) VALUES (?, ?) IF NOT EXISTS', [username, userId]);
    return rs.wasApplied();
  }

  async deleteUser(userId: string): Promise<void> {
    await this.db.execute('DELETE FROM users WHERE user_id = ?', [userId]);
  }

  async userIdByUsername(username: string): Promise<string | undefined> {
    const row = (await this.db.execute('SELECT user_id FROM usernames WHERE username = ?', [username])).first();
    return row ? String(row.get('user_id')) : undefined;
  }

  async getUser(userId: string): Promise<UserRow | undefined> {
    const row = (await this.db.execute('SELECT user_id, username, display_name, password_hash, created_at FROM users WHERE user_id = ?', [userId])).first();
    if (!row) return undefined;
    return {
      userId: row.get('user_id'),
      username: row.get('username'),
      displayName: row.get('display_name'),
      passwordHash: row.get('password_hash'),
      createdAt: Number(row.get('created_at')),
    };
  }

  async getUsers(userIds: string[]): Promise<UserRow[]> {
    const rows = await Promise.all([...new Set(userIds)].map((id) => this.getUser(id)));
    return rows.filter((r): r is UserRow => r !== undefined);
  }

  async createDevice(d: { userId: string; deviceId: string; deviceName: string; at: number }): Promise<void> {
    await this.db.execute('INSERT INTO devices (user_id, device_id, device_name, created_at, last_seen_at) VALUES (?, ?, ?, ?, ?)', [
      d.userId,
      d.deviceId,
      d.deviceName,
      d.at,
      d.at,
    ]);
  }

  private device(row: { get(name: string): unknown }): DeviceRow {
    return {
      userId: String(row.get('user_id')),
      deviceId: String(row.get('device_id')),
      deviceName: String(row.get('device_name') ?? ''),
      createdAt: Number(row.get('created_at') ?? 0),
      lastSeenAt: Number(row.get('last_seen_at') ?? 0),
      removedAt: num(row.get('removed_at')),
    };
  }

  getDevice(userId: string, deviceId: string): Promise<DeviceRow | undefined> {
    return this.devices.get(deviceKey(userId, deviceId));
  }

  private async readDevices(keys: string[]): Promise<Map<string, DeviceRow>> {
    const out = new Map<string, DeviceRow>();
    const wanted = new Set(keys);
    const users = [...new Set(keys.map((k) => k.slice(0, k.indexOf('\u0000'))))];
    const rs = await this.db.execute(`SELECT ${DEVICE_COLUMNS} FROM devices WHERE user_id IN ?`, [users], { fetchSize: 5000 });
    for await (const row of rs) {
      const d = this.device(row);
      const k = deviceKey(d.userId, d.deviceId);
      if (wanted.has(k)) out.set(k, d);
    }
    return out;
  }

  async listDevices(userId: string): Promise<DeviceRow[]> {
    const rs = await this.db.execute(`SELECT ${DEVICE_COLUMNS} FROM devices WHERE user_id = ?`, [userId]);
    return rs.rows.map((r) => this.device(r));
  }

  async removeDevice(userId: string, deviceId: string, reason: string, at: number): Promise<void> {
    await this.db.execute('UPDATE devices SET removed_at = ?, removed_reason = ? WHERE user_id = ? AND device_id = ?', [at, reason, userId, deviceId]);
  }

  touchDevice(userId: string, deviceId: string, at: number): Promise<void> {
    return this.touches.enqueue({ userId, deviceId, at });
  }

  async insertRefresh(r: { tokenHash: string; userId: string; deviceId: string; generation: number; createdAt: number; expiresAt: number }): Promise<void> {
    const ttl = Math.max(1, Math.ceil((r.expiresAt - r.createdAt) / 1000) + 86_400);
    await this.db.execute(
      'INSERT INTO refresh_tokens (token_hash, user_id, device_id, generation, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?) USING TTL ?',
      [r.tokenHash, r.userId, r.deviceId, r.generation, r.createdAt, r.expiresAt, ttl],
    );
  }

  async getRefresh(tokenHash: string): Promise<RefreshRow | undefined> {
    const row = (
      await this.db.execute('SELECT token_hash, user_id, device_id, generation, expires_at, used_at FROM refresh_tokens WHERE token_hash = ?', [tokenHash])
    ).first();
    if (!row) return undefined;
    return {
      tokenHash,
      userId: row.get('user_id'),
      deviceId: row.get('device_id'),
      generation: Number(row.get('generation')),
      expiresAt: Number(row.get('expires_at')),
      usedAt: num(row.get('used_at')),
    };
  }

  /** Lightweight transaction: true when this call is the one that used the token. */
  async markRefreshUsed(tokenHash: string, at: number): Promise<boolean> {
    const rs = await this.db.execute('UPDATE refresh_tokens SET used_at = ? WHERE token_hash = ? IF used_at = null', [at, tokenHash]);
    return rs.wasApplied();
  }
}
