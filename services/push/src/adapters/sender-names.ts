// Sender display names for previews, from SessionService.GetUsers, cached for 5 minutes (bounded).
import type { Client } from '@parley/kit';
import type { sessionV1 } from '@parley/proto';
import type { SenderNames } from '../domain/push-worker.js';

const TTL_MS = 5 * 60_000;
const MAX = 10_000;

export class SessionSenderNames implements SenderNames {
  private readonly cache = new Map<string, { name: string; at: number }>();
  constructor(private readonly session: Client<typeof sessionV1.SessionService> | undefined) {}

  async nameOf(userId: string): Promise<string | undefined> {
    if (!this.session || !userId) return undefined;
    const hit = this.cache.get(userId);
    if (hit && Date.now() - hit.at < TTL_MS) return hit.name;
    const res = await this.session.getUsers({ userIds: [userId] }, { deadlineMs: 2000 });
    const u = res.users[0];
    const name = u ? u.displayName || u.username : '';
    if (this.cache.size >= MAX) this.cache.clear();
    this.cache.set(userId, { name, at: Date.now() });
    return name || undefined;
  }
}
