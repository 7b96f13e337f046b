// Push registrations in Cassandra: push_registrations ((user_id), device_id) holds one registration per device
// (the last write wins); push_tokens (token_key) names the device holding a token, so a token re-registered by
// another device moves there. Deletions of dead tokens are conditional on the token, so a fresh registration
// made meanwhile is never deleted by a late failure of the old one.
import { createHash } from 'node:crypto';
import { errors, type CassandraClient } from '@parley/kit';
import { PLATFORMS, type PlatformName, type Registration } from '../domain/types.js';

const PLATFORM_CODES: Record<PlatformName, number> = { fcm: 1, apns: 2, webpush: 3, webhook: 4 };
const platformOf = (code: number): PlatformName | undefined => PLATFORMS.find((p) => PLATFORM_CODES[p] === code);

export const tokenKey = (platform: PlatformName, token: string): string =>
  createHash('sha256').update(`${platform}:${token}`).digest('hex');

export class RegistrationStore {
  constructor(private readonly db: CassandraClient) {}

  /** A store failure is `unavailable`, so the consumers retry it (for a minute) instead of dead-lettering the event. */
  async get(userId: string, deviceId: string): Promise<Registration | undefined> {
    const rs = await this.db
      .execute('SELECT platform, push_token, updated_at FROM push_registrations WHERE user_id = ? AND device_id = ?', [userId, deviceId], { prepare: true })
      .catch((err: unknown) => {
        throw errors.unavailable('push registrations are unavailable', err);
      });
    const row = rs.first();
    if (!row) return undefined;
    const platform = platformOf(row.get('platform') as number);
    if (!platform) return undefined;
    return { userId, deviceId, platform, token: row.get('push_token') as string, updatedAt: Number(row.get('updated_at')) };
  }

  /** One registration per device, the last wins; a token held by another device moves to this one. */
  async register(reg: Registration): Promise<void> {
    const key = tokenKey(reg.platform, reg.token);
    const prev = await this.db.execute('SELECT user_id, device_id FROM push_tokens WHERE token_key = ?', [key], { prepare: true });
    const holder = prev.first();
    if (holder && (holder.get('user_id') !== reg.userId || holder.get('device_id') !== reg.deviceId)) {
      await this.db.execute(
        'DELETE FROM push_registrations WHERE user_id = ? AND device_id = ? IF push_token = ?',
        [holder.get('user_id'), holder.get('device_id'), reg.token],
        { prepare: true },
      );
    }
    const old = await this.get(reg.userId, reg.deviceId);
    await this.db.execute(
      'INSERT INTO push_registrations (user_id, device_id, platform, push_token, updated_at) VALUES (?, ?, ?, ?, ?)',
      [reg.userId, reg.deviceId, PLATFORM_CODES[reg.platform], reg.token, reg.updatedAt],
      { prepare: true },
    );
    await this.db.execute('INSERT INTO push_tokens (token_key, user_id, device_id) VALUES (?, ?, ?)', [key, reg.userId, reg.deviceId], {
      prepare: true,
    });
    if (old && (old.platform !== reg.platform || old.token !== reg.token)) await this.dropTokenRow(old);
  }

  /** Removes a device's registration (push.unregister, device removed). */
  async unregister(userId: string, deviceId: string): Promise<void> {
    const old = await this.get(userId, deviceId);
    await this.db.execute('DELETE FROM push_registrations WHERE user_id = ? AND device_id = ?', [userId, deviceId], { prepare: true });
    if (old) await this.dropTokenRow(old);
  }

  /** Deletes a registration the provider declared dead, only if it still holds that token. */
  async removeDead(reg: Registration): Promise<void> {
    await this.db.execute(
      'DELETE FROM push_registrations WHERE user_id = ? AND device_id = ? IF push_token = ?',
      [reg.userId, reg.deviceId, reg.token],
      { prepare: true },
    );
    await this.dropTokenRow(reg);
  }

  private async dropTokenRow(reg: Registration): Promise<void> {
    await this.db.execute(
      'DELETE FROM push_tokens WHERE token_key = ? IF device_id = ?',
      [tokenKey(reg.platform, reg.token), reg.deviceId],
      { prepare: true },
    );
  }
}
