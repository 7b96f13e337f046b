// gRPC transport: decodes requests, calls the ChatManager, encodes replies. Errors are ParleyErrors
// (the kit maps them to gRPC statuses); `actor_user_id` is the authenticated caller set by the gateway.
import { ParleyError, type ServiceImpl } from '@parley/kit';
import { commonV1, type groupV1 } from '@parley/proto';
import type { AppContext } from '../../wiring.js';
import { chatToProto, chatTypeToProto, membershipToProto, roleFromProto } from '../../adapters/proto-convert.js';

function requireId(v: string, field: string): string {
  if (!v) throw new ParleyError('bad_request', `${field} is required`);
  return v;
}

export function groupServiceImpl(ctx: AppContext): ServiceImpl<typeof groupV1.GroupService> {
  const m = ctx.chats;
  return {
    async createChat(req) {
      const actor = requireId(req.actorUserId, 'actorUserId');
      await ctx.limits.chatCreated(actor);
      if (req.type === commonV1.ChatType.GROUP) await ctx.limits.membersAdded(actor, new Set(req.memberUserIds).size);
      if (req.type === commonV1.ChatType.DIRECT) return { chat: chatToProto(await m.createDirect(actor, requireId(req.peerUserId, 'userId'))) };
      if (req.type === commonV1.ChatType.GROUP) return { chat: chatToProto(await m.createGroup(actor, req.name, req.memberUserIds)) };
      throw new ParleyError('bad_request', 'type must be "direct" or "group"');
    },
    async getChat(req) {
      return { chat: chatToProto(await m.getChat(requireId(req.actorUserId, 'actorUserId'), requireId(req.chatId, 'chatId'))) };
    },
    async listChats(req) {
      return { chats: (await m.listChats(requireId(req.actorUserId, 'actorUserId'))).map(chatToProto) };
    },
    async renameChat(req) {
      return { chat: chatToProto(await m.rename(requireId(req.actorUserId, 'actorUserId'), requireId(req.chatId, 'chatId'), req.name)) };
    },
    async addMembers(req) {
      await ctx.limits.membersAdded(requireId(req.actorUserId, 'actorUserId'), new Set(req.userIds).size);
      return { chat: chatToProto(await m.addMembers(requireId(req.actorUserId, 'actorUserId'), requireId(req.chatId, 'chatId'), req.userIds)) };
    },
    async removeMembers(req) {
      return { chat: chatToProto(await m.removeMembers(requireId(req.actorUserId, 'actorUserId'), requireId(req.chatId, 'chatId'), req.userIds)) };
    },
    async setRole(req) {
      const role = roleFromProto(req.role);
      if (!role) throw new ParleyError('bad_request', 'role must be "admin" or "member"');
      const chat = await m.setRole(requireId(req.actorUserId, 'actorUserId'), requireId(req.chatId, 'chatId'), requireId(req.userId, 'userId'), role);
      return { chat: chatToProto(chat) };
    },
    async getMembers(req) {
      const r = await m.getMembers(requireId(req.chatId, 'chatId'), req.includeLeft);
      return { type: r.type ? chatTypeToProto(r.type) : commonV1.ChatType.UNSPECIFIED, members: r.members.map(membershipToProto) };
    },
    async listMemberships(req) {
      return { memberships: (await m.listMemberships(requireId(req.userId, 'userId'), req.includeLeft)).map(membershipToProto) };
    },
    async listMembershipsMany(req) {
      return { memberships: (await m.listMembershipsMany(req.userIds, req.includeLeft)).map(membershipToProto) };
    },
  };
}
