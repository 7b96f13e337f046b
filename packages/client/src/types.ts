// Protocol shapes (protocol.md §3–§6), as the client sees them on the wire.

export type ErrorCode =
  | 'bad_request'
  | 'unauthorized'
  | 'forbidden'
  | 'not_member'
  | 'not_found'
  | 'username_taken'
  | 'conflict'
  | 'too_large'
  | 'rate_limited'
  | 'unavailable'
  | 'internal';

export interface ChatMember {
  userId: string;
  role: 'admin' | 'member';
}

export interface Chat {
  chatId: string;
  type: 'direct' | 'group';
  name?: string;
  members: ChatMember[];
  createdAt: string;
  lastSeq: number;
}

export interface Attachment {
  mediaId: string;
  contentType: string;
  size: number;
  sha256: string;
  fileName?: string;
}

export interface MessageBody {
  text?: string;
  /** base64 */
  ciphertext?: string;
}

export interface SystemInfo {
  action: 'created' | 'members.added' | 'members.removed' | 'renamed' | 'role';
  actor: string;
  userIds?: string[];
  name?: string;
  role?: 'admin' | 'member';
}

export interface Message {
  chatId: string;
  seq: number;
  messageId: string;
  kind: 'user' | 'system';
  sender: { userId: string; deviceId: string };
  clientMsgId: string;
  body: MessageBody;
  attachments: Attachment[];
  replyTo?: number;
  createdAt: string;
  system?: SystemInfo;
}

export interface Presence {
  userId: string;
  status: 'online' | 'offline';
  lastSeen?: string;
}

export interface Settings {
  lastSeen: 'everyone' | 'contacts' | 'nobody';
  readReceipts: boolean;
}

/** op → [request data, reply data] (protocol.md §4). */
export interface Requests {
  ping: [Record<string, never>, { serverTime: string }];
  'chat.create': [
    { type: 'direct'; userId: string } | { type: 'group'; name: string; members: string[] },
    { chat: Chat },
  ];
  'chat.get': [{ chatId: string }, { chat: Chat }];
  'chat.list': [Record<string, never>, { chats: Chat[] }];
  'chat.update': [{ chatId: string; name: string }, { chat: Chat }];
  'chat.members.add': [{ chatId: string; userIds: string[] }, { chat: Chat }];
  'chat.members.remove': [{ chatId: string; userIds: string[] }, { chat: Chat }];
  'chat.members.role': [{ chatId: string; userId: string; role: 'admin' | 'member' }, { chat: Chat }];
  'message.send': [
    { chatId: string; clientMsgId: string; body: MessageBody; attachments?: string[]; replyTo?: number },
    { messageId: string; seq: number; createdAt: string; duplicate: boolean },
  ];
  'message.ack': [{ items: { chatId: string; seq: number }[] }, Record<string, never>];
  'message.read': [{ chatId: string; seq: number }, Record<string, never>];
  'message.history': [
    { chatId: string; beforeSeq?: number; afterSeq?: number; limit?: number },
    { messages: Message[]; hasMore: boolean },
  ];
  typing: [{ chatId: string; state: 'typing' | 'paused' }, Record<string, never>];
  'presence.subscribe': [{ userIds: string[] }, { presence: Presence[] }];
  'presence.unsubscribe': [{ userIds: string[] }, Record<string, never>];
  'settings.update': [
    { lastSeen?: 'everyone' | 'contacts' | 'nobody'; readReceipts?: boolean },
    { settings: Settings },
  ];
  'settings.get': [Record<string, never>, { settings: Settings }];
  'push.register': [{ platform: 'fcm' | 'apns' | 'webpush' | 'webhook'; token: string }, Record<string, never>];
  'push.unregister': [Record<string, never>, Record<string, never>];
}
export type Op = keyof Requests;
export type RequestData<K extends Op> = Requests[K][0];
export type ReplyData<K extends Op> = Requests[K][1];

export type Receipt =
  | { chatId: string; userId: string; status: 'delivered'; seqs: number[]; upToSeq?: number }
  | { chatId: string; userId: string; status: 'read'; upToSeq: number };

/** event → data (protocol.md §5). */
export interface Events {
  'session.ready': { userId: string; deviceId: string; heartbeatIntervalMs: number; serverTime: string };
  'message.new': { message: Message };
  'inbox.drained': { count: number };
  receipt: Receipt;
  /** Several receipts of one chat coalesced (groups; docs/protocol.md). */
  receipts: { chatId: string; receipts: Receipt[] };
  'chat.updated': { chat: Chat };
  presence: { presence: Presence };
  typing: { chatId: string; userId: string; state: 'typing' | 'paused' };
}
export type EventName = keyof Events;

export interface ServerEvent<E extends string = string, D = unknown> {
  event: E;
  data: D;
}

export interface ErrorBody {
  code: ErrorCode | string;
  message: string;
  retryAfterMs?: number;
}

export interface TokenPair {
  userId: string;
  deviceId: string;
  accessToken: string;
  refreshToken: string;
  expiresIn: number;
}

export interface DeviceInfo {
  deviceId: string;
  deviceName: string;
  createdAt: string;
  lastSeenAt: string;
}

export interface UserInfo {
  userId: string;
  username: string;
  displayName: string;
}
