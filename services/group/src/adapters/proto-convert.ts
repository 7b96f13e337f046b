// Domain records ↔ generated protobuf shapes (parley.common.v1 / parley.group.v1).
import { create } from '@bufbuild/protobuf';
import { commonV1, groupV1 } from '@parley/proto';
import type { ChatKind, ChatView, MemberRecord, OpKind, Role, SystemEvent } from '../domain/model.js';

export const chatTypeToProto = (t: ChatKind): commonV1.ChatType => (t === 'direct' ? commonV1.ChatType.DIRECT : commonV1.ChatType.GROUP);
export const roleToProto = (r: Role): commonV1.MemberRole => (r === 'admin' ? commonV1.MemberRole.ADMIN : commonV1.MemberRole.MEMBER);

export function roleFromProto(r: commonV1.MemberRole): Role | undefined {
  if (r === commonV1.MemberRole.ADMIN) return 'admin';
  if (r === commonV1.MemberRole.MEMBER) return 'member';
  return undefined;
}

const ACTIONS: Record<OpKind, commonV1.SystemAction> = {
  created: commonV1.SystemAction.CREATED,
  'members.added': commonV1.SystemAction.MEMBERS_ADDED,
  'members.removed': commonV1.SystemAction.MEMBERS_REMOVED,
  renamed: commonV1.SystemAction.RENAMED,
  role: commonV1.SystemAction.ROLE,
};

export function systemInfoToProto(e: SystemEvent): commonV1.SystemInfo {
  return create(commonV1.SystemInfoSchema, {
    action: ACTIONS[e.action],
    actor: e.actor,
    userIds: e.userIds,
    ...(e.name !== undefined ? { name: e.name } : {}),
    ...(e.role !== undefined ? { role: roleToProto(e.role) } : {}),
  });
}

export function chatToProto(c: ChatView): commonV1.Chat {
  return create(commonV1.ChatSchema, {
    chatId: c.chatId,
    type: chatTypeToProto(c.type),
    ...(c.name !== undefined ? { name: c.name } : {}),
    members: c.members.map((m) => create(commonV1.ChatMemberSchema, { userId: m.userId, role: roleToProto(m.role) })),
    createdAt: BigInt(c.createdAt),
    lastSeq: BigInt(c.lastSeq),
    lastActivityAt: BigInt(c.lastActivityAt),
  });
}

export function membershipToProto(m: MemberRecord): groupV1.Membership {
  return create(groupV1.MembershipSchema, {
    chatId: m.chatId,
    userId: m.userId,
    role: roleToProto(m.role),
    joinedSeq: BigInt(m.joinedSeq),
    leftSeq: BigInt(m.leftSeq),
    pending: m.pending,
  });
}
