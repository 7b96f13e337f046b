// The session service as the user directory (GetUsers) and the device router (GetDeviceRoutes).
import type { Client, DeviceRoute } from '@parley/kit';
import type { sessionV1 } from '@parley/proto';
import type { UserDirectory } from '../domain/model.js';

const BATCH = 500;

export class SessionDirectory implements UserDirectory {
  constructor(private readonly client: Client<typeof sessionV1.SessionService>) {}

  async existingUsers(userIds: string[]): Promise<Set<string>> {
    const found = new Set<string>();
    for (let i = 0; i < userIds.length; i += BATCH) {
      const res = await this.client.getUsers({ userIds: userIds.slice(i, i + BATCH) });
      for (const u of res.users) found.add(u.userId);
    }
    return found;
  }

  async deviceRoutes(userIds: string[]): Promise<DeviceRoute[]> {
    const out: DeviceRoute[] = [];
    for (let i = 0; i < userIds.length; i += BATCH) {
      const res = await this.client.getDeviceRoutes({ userIds: userIds.slice(i, i + BATCH) });
      for (const r of res.routes) out.push({ userId: r.userId, deviceId: r.deviceId, online: r.online, gatewayId: r.gatewayId, connectionId: r.connectionId });
    }
    return out;
  }
}
