// The dispatch table: every op of protocol.md §4 → the service call that does it. The authenticated
// userId/deviceId always come from the connection (the token), never from the frame.
import { errors, type Admission } from '@parley/kit';
import { commonV1 } from '@parley/proto';
import type { Upstreams } from '../../adapters/upstreams.js';
import type { OpData, OpName } from '../wire/frames.js';
import { LIMITS } from '../wire/limits.js';
import {
  bodyFromJson,
  chatToJson,
  isoFromMs,
  lastSeenFromName,
  messageToJson,
  platformFromName,
  presenceToJson,
  roleFromName,
  settingsToJson,
  type Json,
} from '../wire/mapping.js';

export interface RequestContext {
  userId: string;
  deviceId: string;
  /** The WebSocket connection the request came on (presence subscriptions live and die with it). */
  connectionId: string;
  gatewayId: string;
  upstreams: Upstreams;
  deadlineMs: number;
  /** Sheds message.send beyond a number in flight (cheaper here than after a gRPC hop). */
  sendAdmission: Admission;
}

type Handler<K extends OpName> = (c: RequestContext, data: OpData<K>) => Promise<Json>;
export type DispatchTable = { [K in OpName]: Handler<K> };

function chatOf(res: { chat?: commonV1.Chat }): Json {
  if (!res.chat) throw errors.internal('upstream returned no chat');
  return { chat: chatToJson(res.chat) };
}

const opts = (c: RequestContext) => ({ deadlineMs: c.deadlineMs });

export const dispatchTable: DispatchTable = {
  ping: async () => ({ serverTime: new Date().toISOString() }),

  'chat.create': async (c, d) =>
    chatOf(
      await c.upstreams.group.createChat(
        d.type === 'direct'
          ? { actorUserId: c.userId, type: commonV1.ChatType.DIRECT, peerUserId: d.userId }
          : { actorUserId: c.userId, type: commonV1.ChatType.GROUP, name: d.name, memberUserIds: d.members },
        opts(c),
      ),
    ),
  'chat.get': async (c, d) => chatOf(await c.upstreams.group.getChat({ actorUserId: c.userId, chatId: d.chatId }, opts(c))),
  'chat.list': async (c) => {
    const res = await c.upstreams.group.listChats({ actorUserId: c.userId }, opts(c));
    return { chats: res.chats.map(chatToJson) };
  },
  'chat.update': async (c, d) =>
    chatOf(await c.upstreams.group.renameChat({ actorUserId: c.userId, chatId: d.chatId, name: d.name }, opts(c))),
  'chat.members.add': async (c, d) =>
    chatOf(await c.upstreams.group.addMembers({ actorUserId: c.userId, chatId: d.chatId, userIds: d.userIds }, opts(c))),
  'chat.members.remove': async (c, d) =>
    chatOf(await c.upstreams.group.removeMembers({ actorUserId: c.userId, chatId: d.chatId, userIds: d.userIds }, opts(c))),
  'chat.members.role': async (c, d) =>
    chatOf(
      await c.upstreams.group.setRole(
        { actorUserId: c.userId, chatId: d.chatId, userId: d.userId, role: roleFromName(d.role) },
        opts(c),
      ),
    ),

  'message.send': async (c, d) => {
    const res = await c.sendAdmission.run(() =>
      c.upstreams.message.sendMessage(
      {
        userId: c.userId,
        deviceId: c.deviceId,
        chatId: d.chatId,
        clientMsgId: d.clientMsgId,
        body: { content: bodyFromJson(d.body) },
        attachmentMediaIds: d.attachments ?? [],
        ...(d.replyTo !== undefined ? { replyTo: BigInt(d.replyTo) } : {}),
      },
      opts(c),
      ),
    );
    return { messageId: res.messageId, seq: Number(res.seq), createdAt: isoFromMs(res.createdAt), duplicate: res.duplicate };
  },
  'message.ack': async (c, d) => {
    if (d.items.length === 0) return {};
    await c.upstreams.message.ackMessages(
      { userId: c.userId, deviceId: c.deviceId, items: d.items.map((i) => ({ chatId: i.chatId, seq: BigInt(i.seq) })) },
      opts(c),
    );
    return {};
  },
  'message.read': async (c, d) => {
    await c.upstreams.message.markRead({ userId: c.userId, deviceId: c.deviceId, chatId: d.chatId, seq: BigInt(d.seq) }, opts(c));
    return {};
  },
  'message.history': async (c, d) => {
    const res = await c.upstreams.message.getHistory(
      {
        userId: c.userId,
        chatId: d.chatId,
        limit: d.limit ?? LIMITS.historyLimitDefault,
        ...(d.beforeSeq !== undefined ? { beforeSeq: BigInt(d.beforeSeq) } : {}),
        ...(d.afterSeq !== undefined ? { afterSeq: BigInt(d.afterSeq) } : {}),
      },
      opts(c),
    );
    return { messages: res.messages.map(messageToJson), hasMore: res.hasMore };
  },

  typing: async (c, d) => {
    await c.upstreams.presence.setTyping(
      { userId: c.userId, deviceId: c.deviceId, chatId: d.chatId, typing: d.state === 'typing' },
      opts(c),
    );
    return {};
  },
  'presence.subscribe': async (c, d) => {
    const res = await c.upstreams.presence.subscribePresence(
      { userId: c.userId, deviceId: c.deviceId, gatewayId: c.gatewayId, connectionId: c.connectionId, userIds: d.userIds },
      opts(c),
    );
    return { presence: res.presence.map(presenceToJson) };
  },
  'presence.unsubscribe': async (c, d) => {
    await c.upstreams.presence.unsubscribePresence(
      { userId: c.userId, deviceId: c.deviceId, gatewayId: c.gatewayId, connectionId: c.connectionId, userIds: d.userIds },
      opts(c),
    );
    return {};
  },
  'settings.update': async (c, d) => {
    const res = await c.upstreams.presence.updateSettings(
      {
        userId: c.userId,
        ...(d.lastSeen !== undefined ? { lastSeen: lastSeenFromName(d.lastSeen) } : {}),
        ...(d.readReceipts !== undefined ? { readReceipts: d.readReceipts } : {}),
      },
      opts(c),
    );
    return { settings: settingsToJson(res.settings) };
  },
  'settings.get': async (c) => {
    const res = await c.upstreams.presence.getSettings({ userIds: [c.userId] }, opts(c));
    return { settings: settingsToJson(res.settings[c.userId]) };
  },

  'push.register': async (c, d) => {
    await c.upstreams.push.registerPush(
      { userId: c.userId, deviceId: c.deviceId, platform: platformFromName(d.platform), token: d.token },
      opts(c),
    );
    return {};
  },
  'push.unregister': async (c) => {
    await c.upstreams.push.unregisterPush({ userId: c.userId, deviceId: c.deviceId }, opts(c));
    return {};
  },
};

export function dispatch<K extends OpName>(c: RequestContext, op: K, data: OpData<K>): Promise<Json> {
  return (dispatchTable[op] as Handler<K>)(c, data);
}
