// Small in-test gRPC servers standing in for GroupService and SessionService (services, not stores; the
// real ones are built concurrently). Membership and routes are set by the test. Real Cassandra, Kafka and
// Redis are used everywhere else.
import { create } from '@bufbuild/protobuf';
import { createGrpcServer, createLogger, ParleyError, type GrpcServer } from '@parley/kit';
import { commonV1, groupV1, sessionV1 } from '@parley/proto';
import { testPki } from '@parley/testing';

export interface FakeMember {
  joinedSeq: bigint;
  leftSeq: bigint;
  pending?: boolean;
}

export class FakeGroup {
  /** chatId → userId → membership */
  readonly chats = new Map<string, Map<string, FakeMember>>();
  calls = { getMembers: 0, listMemberships: 0 };

  set(chatId: string, userId: string, m: FakeMember): void {
    let c = this.chats.get(chatId);
    if (!c) this.chats.set(chatId, (c = new Map()));
    c.set(userId, m);
  }

  private row(chatId: string, userId: string, m: FakeMember): groupV1.Membership {
    return create(groupV1.MembershipSchema, { chatId, userId, role: commonV1.MemberRole.MEMBER, joinedSeq: m.joinedSeq, leftSeq: m.leftSeq, pending: m.pending ?? false });
  }

  impl() {
    return {
      getMembers: async (req: groupV1.GetMembersRequest) => {
        this.calls.getMembers += 1;
        const c = this.chats.get(req.chatId);
        if (!c) throw new ParleyError('not_found', 'no such chat');
        const members = [...c].filter(([, m]) => req.includeLeft || m.leftSeq === 0n).map(([u, m]) => this.row(req.chatId, u, m));
        return create(groupV1.GetMembersResponseSchema, { type: commonV1.ChatType.GROUP, members });
      },
      listMemberships: async (req: groupV1.ListMembershipsRequest) => {
        this.calls.listMemberships += 1;
        const memberships: groupV1.Membership[] = [];
        for (const [chatId, c] of this.chats) {
          const m = c.get(req.userId);
          if (m && (req.includeLeft || m.leftSeq === 0n)) memberships.push(this.row(chatId, req.userId, m));
        }
        return create(groupV1.ListMembershipsResponseSchema, { memberships });
      },
    };
  }
}

export class FakeSession {
  /** userId → routes */
  readonly routes = new Map<string, Array<{ deviceId: string; online: boolean; gatewayId: string; connectionId: string }>>();
  calls = 0;
  impl() {
    return {
      getDeviceRoutes: async (req: sessionV1.GetDeviceRoutesRequest) => {
        this.calls += 1;
        const routes = req.userIds.flatMap((userId) => (this.routes.get(userId) ?? []).map((r) => create(sessionV1.DeviceRouteSchema, { userId, ...r })));
        return create(sessionV1.GetDeviceRoutesResponseSchema, { routes });
      },
    };
  }
}

export async function startFakePeers(): Promise<{ group: FakeGroup; session: FakeSession; groupAddr: string; sessionAddr: string; stop(): Promise<void> }> {
  const logger = createLogger('fake-peers', 'silent');
  const group = new FakeGroup();
  const session = new FakeSession();
  const gs: GrpcServer = createGrpcServer({ logger, identity: testPki().identity('group') });
  gs.addService(groupV1.GroupService, group.impl());
  const ss: GrpcServer = createGrpcServer({ logger, identity: testPki().identity('session') });
  ss.addService(sessionV1.SessionService, session.impl());
  const gp = await gs.listen('127.0.0.1', 0);
  const sp = await ss.listen('127.0.0.1', 0);
  gs.health.set('', 'SERVING');
  ss.health.set('', 'SERVING');
  return {
    group,
    session,
    groupAddr: `127.0.0.1:${gp}`,
    sessionAddr: `127.0.0.1:${sp}`,
    stop: async () => {
      await Promise.all([gs.shutdown(1000), ss.shutdown(1000)]);
    },
  };
}
