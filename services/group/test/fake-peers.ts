// In-test gRPC servers standing in for MessageService and SessionService (services, not stores). The
// group service under test talks to them over real gRPC; Cassandra and Redis are the real servers.
import { create } from '@bufbuild/protobuf';
import { createGrpcServer, createLogger, ParleyError, type GrpcServer } from '@parley/kit';
import { commonV1, messageV1, sessionV1 } from '@parley/proto';
import { testPki } from '@parley/testing';

export class FakeMessages {
  /** chatId → committed system messages in seq order */
  readonly log = new Map<string, { seq: bigint; key: string; system: commonV1.SystemInfo; at: bigint }[]>();
  /** Store the next append, then fail the call (the reply is lost: the group service crashed or timed out). */
  loseNextReply = false;
  appendCalls = 0;

  /** A user message, to move a chat's head forward. */
  bump(chatId: string): void {
    const l = this.log.get(chatId) ?? [];
    l.push({ seq: BigInt(l.length + 1), key: `user-${l.length + 1}`, system: create(commonV1.SystemInfoSchema, {}), at: BigInt(Date.now()) });
    this.log.set(chatId, l);
  }

  impl() {
    return {
      appendSystemMessage: async (req: messageV1.AppendSystemMessageRequest) => {
        this.appendCalls += 1;
        const l = this.log.get(req.chatId) ?? [];
        let entry = l.find((e) => e.key === req.idempotencyKey);
        const duplicate = entry !== undefined;
        if (!entry) {
          entry = { seq: BigInt(l.length + 1), key: req.idempotencyKey, system: req.system!, at: BigInt(Date.now()) };
          l.push(entry);
          this.log.set(req.chatId, l);
        }
        if (this.loseNextReply) {
          this.loseNextReply = false;
          throw new ParleyError('unavailable', 'reply lost');
        }
        const message = create(commonV1.MessageSchema, {
          chatId: req.chatId,
          seq: entry.seq,
          kind: commonV1.MessageKind.SYSTEM,
          createdAt: entry.at,
          system: entry.system,
        });
        return create(messageV1.AppendSystemMessageResponseSchema, { message, duplicate });
      },
      getChatHeads: async (req: messageV1.GetChatHeadsRequest) => {
        const heads = req.chatIds.flatMap((chatId) => {
          const last = this.log.get(chatId)?.at(-1);
          return last ? [create(messageV1.ChatHeadSchema, { chatId, lastSeq: last.seq, lastActivityAt: last.at })] : [];
        });
        return create(messageV1.GetChatHeadsResponseSchema, { heads });
      },
    };
  }
}

export class FakeSession {
  readonly users = new Set<string>();
  /** userId → devices */
  readonly routes = new Map<string, { deviceId: string; online: boolean; gatewayId: string; connectionId: string }[]>();

  impl() {
    return {
      getUsers: async (req: sessionV1.GetUsersRequest) =>
        create(sessionV1.GetUsersResponseSchema, {
          users: req.userIds.filter((u) => this.users.has(u)).map((userId) => create(sessionV1.UserSchema, { userId, username: userId })),
        }),
      getDeviceRoutes: async (req: sessionV1.GetDeviceRoutesRequest) =>
        create(sessionV1.GetDeviceRoutesResponseSchema, {
          routes: req.userIds.flatMap((userId) => (this.routes.get(userId) ?? []).map((r) => create(sessionV1.DeviceRouteSchema, { userId, ...r }))),
        }),
    };
  }
}

export async function startFakePeers(): Promise<{ messages: FakeMessages; session: FakeSession; messageAddr: string; sessionAddr: string; stop(): Promise<void> }> {
  const logger = createLogger('group-test-peers', 'silent');
  const messages = new FakeMessages();
  const session = new FakeSession();
  const servers: GrpcServer[] = [];
  const m = createGrpcServer({ logger, identity: testPki().identity('message') });
  m.addService(messageV1.MessageService, messages.impl());
  const s = createGrpcServer({ logger, identity: testPki().identity('session') });
  s.addService(sessionV1.SessionService, session.impl());
  servers.push(m, s);
  const mp = await m.listen('127.0.0.1', 0);
  const sp = await s.listen('127.0.0.1', 0);
  return {
    messages,
    session,
    messageAddr: `127.0.0.1:${mp}`,
    sessionAddr: `127.0.0.1:${sp}`,
    stop: async () => {
      await Promise.all(servers.map((x) => x.shutdown(1000)));
    },
  };
}
