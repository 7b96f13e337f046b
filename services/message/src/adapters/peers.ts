// Clients of the services message depends on, adapted to the domain ports.
import { createClient, ParleyError, type Client } from '@parley/kit';
import { groupV1, mediaV1, sessionV1, type commonV1 } from '@parley/proto';
import type { GroupPort, MediaPort, RoutesPort } from '../domain/ports.js';
import type { MemberRow } from '../domain/membership.js';
import type { DeviceRoute } from '../domain/fanout.js';

const toRow = (m: groupV1.Membership): MemberRow & { chatId: string } => ({ chatId: m.chatId, userId: m.userId, joinedSeq: m.joinedSeq, leftSeq: m.leftSeq, pending: m.pending });

export class GroupPeer implements GroupPort {
  constructor(readonly client: Client<typeof groupV1.GroupService>) {}

  static connect(addr: string): GroupPeer {
    return new GroupPeer(createClient(groupV1.GroupService, addr, { deadlineMs: 5000 }));
  }

  async getMembers(chatId: string, includeLeft: boolean): Promise<MemberRow[]> {
    try {
      const r = await this.client.getMembers({ chatId, includeLeft });
      return r.members.map(toRow);
    } catch (err) {
      // An unknown chat has no members: the caller answers not_member.
      if (err instanceof ParleyError && (err.code === 'not_found' || err.code === 'not_member')) return [];
      throw err;
    }
  }

  async listMemberships(userId: string): Promise<Array<MemberRow & { chatId: string }>> {
    const r = await this.client.listMemberships({ userId, includeLeft: true });
    return r.memberships.map(toRow);
  }

  close(): void {
    this.client.close();
  }
}

/**
 * Device routes with group commit: while one GetDeviceRoutes call is in flight, the users that concurrent
 * fan-outs ask for queue, and the next call asks for all of them at once (one call per batch of chats, not
 * per message). A route is never cached: it is read after the message was committed.
 */
export class SessionPeer implements RoutesPort {
  private queue: Array<{ userIds: string[]; resolve(r: DeviceRoute[]): void; reject(e: unknown): void }> = [];
  private inFlight = false;

  constructor(
    readonly client: Client<typeof sessionV1.SessionService>,
    private readonly maxUsers = 4096,
  ) {}

  static connect(addr: string): SessionPeer {
    return new SessionPeer(createClient(sessionV1.SessionService, addr, { deadlineMs: 5000 }));
  }

  getDeviceRoutes(userIds: string[]): Promise<DeviceRoute[]> {
    if (userIds.length === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      this.queue.push({ userIds, resolve, reject });
      if (!this.inFlight) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    if (this.queue.length === 0) return;
    const batch: typeof this.queue = [];
    const users = new Set<string>();
    while (this.queue.length > 0 && (batch.length === 0 || users.size + this.queue[0]!.userIds.length <= this.maxUsers)) {
      const w = this.queue.shift()!;
      batch.push(w);
      for (const u of w.userIds) users.add(u);
    }
    this.inFlight = true;
    try {
      const r = await this.client.getDeviceRoutes({ userIds: [...users] });
      const byUser = new Map<string, DeviceRoute[]>();
      for (const x of r.routes) {
        let l = byUser.get(x.userId);
        if (!l) byUser.set(x.userId, (l = []));
        l.push({ userId: x.userId, deviceId: x.deviceId, online: x.online, gatewayId: x.gatewayId, connectionId: x.connectionId });
      }
      for (const w of batch) w.resolve([...new Set(w.userIds)].flatMap((u) => byUser.get(u) ?? []));
    } catch (err) {
      for (const w of batch) w.reject(err);
    } finally {
      this.inFlight = false;
      void this.flush();
    }
  }

  close(): void {
    this.client.close();
  }
}

export class MediaPeer implements MediaPort {
  constructor(readonly client: Client<typeof mediaV1.MediaService>) {}

  static connect(addr: string): MediaPeer {
    return new MediaPeer(createClient(mediaV1.MediaService, addr, { deadlineMs: 5000 }));
  }

  async resolveAttachments(userId: string, mediaIds: string[]): Promise<commonV1.Attachment[]> {
    const r = await this.client.resolveAttachments({ userId, mediaIds });
    return r.attachments;
  }

  close(): void {
    this.client.close();
  }
}
