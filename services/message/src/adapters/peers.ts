// Clients of the services message depends on, adapted to the domain ports.
import { BatchedLookup, createClient, ParleyError, readWarmRoutes, withBatchedMemberships, type Client, type Redis } from '@parley/kit';
import { groupV1, mediaV1, sessionV1, type commonV1 } from '@parley/proto';
import type { GroupPort, MediaPort, RoutesPort } from '../domain/ports.js';
import type { MemberRow } from '../domain/membership.js';
import type { DeviceRoute } from '../domain/fanout.js';

const toRow = (m: groupV1.Membership): MemberRow & { chatId: string } => ({ chatId: m.chatId, userId: m.userId, joinedSeq: m.joinedSeq, leftSeq: m.leftSeq, pending: m.pending });

export class GroupPeer implements GroupPort {
  readonly client: Client<typeof groupV1.GroupService>;

  /** `client`'s ListMemberships is group-committed over ListMembershipsMany (a connect burst's backlogs). */
  constructor(client: Client<typeof groupV1.GroupService>) {
    this.client = withBatchedMemberships(client);
  }

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
 * Group commit of route lookups (the kit's BatchedLookup): while one lookup is in flight, the users that
 * concurrent fan-outs ask for queue, and the next lookup asks for all of them at once (one per batch of chats,
 * not per message). A route is never cached: it is read after the message was committed.
 */
class RouteLookups {
  private readonly batched: BatchedLookup<string, DeviceRoute[]>;

  constructor(lookup: (userIds: string[]) => Promise<DeviceRoute[]>, maxUsers: number) {
    this.batched = new BatchedLookup(
      async (users) => {
        const byUser = new Map<string, DeviceRoute[]>();
        for (const x of await lookup(users)) {
          let l = byUser.get(x.userId);
          if (!l) byUser.set(x.userId, (l = []));
          l.push({ userId: x.userId, deviceId: x.deviceId, online: x.online, gatewayId: x.gatewayId, connectionId: x.connectionId });
        }
        return byUser;
      },
      { maxKeys: maxUsers },
    );
  }

  async get(userIds: string[]): Promise<DeviceRoute[]> {
    const users = [...new Set(userIds)];
    const found = await this.batched.getMany(users);
    return users.flatMap((u) => found.get(u) ?? []);
  }
}

/** Device routes from session's GetDeviceRoutes, group-committed (RouteLookups). */
export class SessionPeer implements RoutesPort {
  private readonly lookups: RouteLookups;

  constructor(
    readonly client: Client<typeof sessionV1.SessionService>,
    maxUsers = 4096,
  ) {
    this.lookups = new RouteLookups(async (userIds) => (await this.client.getDeviceRoutes({ userIds })).routes, maxUsers);
  }

  static connect(addr: string): SessionPeer {
    return new SessionPeer(createClient(sessionV1.SessionService, addr, { deadlineMs: 5000 }));
  }

  getDeviceRoutes(userIds: string[]): Promise<DeviceRoute[]> {
    return this.lookups.get(userIds);
  }

  close(): void {
    this.client.close();
  }
}

/**
 * Device routes read from session's registry in Redis (kit `readWarmRoutes`: device sets, then connections,
 * two pipelined round trips), group-committed like SessionPeer; only the users whose device set is not cached
 * go to session (`fallback`), which reads them from Cassandra and fills the cache. One gRPC hop and session's
 * decode/encode fewer per fan-out batch (issue 9, "fan-out could read the route registry directly").
 */
export class RegistryRoutes implements RoutesPort {
  private readonly lookups: RouteLookups;

  constructor(
    redis: Redis,
    ns: string,
    private readonly fallback: RoutesPort,
    maxUsers = 4096,
    onLookup?: (warm: number, missed: number) => void,
  ) {
    this.lookups = new RouteLookups(async (userIds) => {
      const { routes, missed } = await readWarmRoutes(redis, ns, userIds);
      onLookup?.(userIds.length - missed.length, missed.length);
      return missed.length ? [...routes, ...(await this.fallback.getDeviceRoutes(missed))] : routes;
    }, maxUsers);
  }

  getDeviceRoutes(userIds: string[]): Promise<DeviceRoute[]> {
    return this.lookups.get(userIds);
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
