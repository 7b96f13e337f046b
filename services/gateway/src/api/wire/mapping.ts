// The one place proto shapes become protocol.md JSON and back (times ISO 8601 with ms from int64 ms,
// seq as numbers, enums as strings, ciphertext bytes ↔ base64). Pure.
import { commonV1, eventsV1, presenceV1, pushV1, sessionV1, mediaV1 } from '@parley/proto';
import type { OpData } from './frames.js';

export type Json = Record<string, unknown>;

export function isoFromMs(ms: bigint | number): string {
  const n = typeof ms === 'bigint' ? Number(ms) : ms;
  return new Date(Number.isFinite(n) ? n : 0).toISOString();
}

const num = (v: bigint | number): number => (typeof v === 'bigint' ? Number(v) : v);

export function chatType(t: commonV1.ChatType): 'direct' | 'group' {
  return t === commonV1.ChatType.GROUP ? 'group' : 'direct';
}

export function roleName(r: commonV1.MemberRole): 'admin' | 'member' {
  return r === commonV1.MemberRole.ADMIN ? 'admin' : 'member';
}

export function roleFromName(r: 'admin' | 'member'): commonV1.MemberRole {
  return r === 'admin' ? commonV1.MemberRole.ADMIN : commonV1.MemberRole.MEMBER;
}

const SYSTEM_ACTIONS: Record<number, string> = {
  [commonV1.SystemAction.CREATED]: 'created',
  [commonV1.SystemAction.MEMBERS_ADDED]: 'members.added',
  [commonV1.SystemAction.MEMBERS_REMOVED]: 'members.removed',
  [commonV1.SystemAction.RENAMED]: 'renamed',
  [commonV1.SystemAction.ROLE]: 'role',
};

export function chatToJson(c: commonV1.Chat): Json {
  const out: Json = {
    chatId: c.chatId,
    type: chatType(c.type),
    members: c.members.map((m) => ({ userId: m.userId, role: roleName(m.role) })),
    createdAt: isoFromMs(c.createdAt),
    lastSeq: num(c.lastSeq),
  };
  if (c.name !== undefined && (c.type === commonV1.ChatType.GROUP || c.name !== '')) out['name'] = c.name;
  return out;
}

export function bodyToJson(b: commonV1.MessageBody | undefined): Json {
  switch (b?.content.case) {
    case 'text':
      return { text: b.content.value };
    case 'ciphertext':
      return { ciphertext: Buffer.from(b.content.value).toString('base64') };
    default:
      return {};
  }
}

export function bodyFromJson(b: { text?: string; ciphertext?: string }): commonV1.MessageBody['content'] {
  if (b.text !== undefined) return { case: 'text', value: b.text };
  if (b.ciphertext !== undefined) return { case: 'ciphertext', value: new Uint8Array(Buffer.from(b.ciphertext, 'base64')) };
  return { case: undefined };
}

export function messageToJson(m: commonV1.Message): Json {
  const out: Json = {
    chatId: m.chatId,
    seq: num(m.seq),
    messageId: m.messageId,
    kind: m.kind === commonV1.MessageKind.SYSTEM ? 'system' : 'user',
    sender: { userId: m.sender?.userId ?? '', deviceId: m.sender?.deviceId ?? '' },
    clientMsgId: m.clientMsgId,
    body: bodyToJson(m.body),
    attachments: m.attachments.map((a) => {
      const att: Json = { mediaId: a.mediaId, contentType: a.contentType, size: num(a.size), sha256: a.sha256 };
      if (a.fileName !== undefined) att['fileName'] = a.fileName;
      return att;
    }),
    createdAt: isoFromMs(m.createdAt),
  };
  if (m.replyTo !== undefined) out['replyTo'] = num(m.replyTo);
  if (m.system) {
    const s = m.system;
    const sys: Json = { action: SYSTEM_ACTIONS[s.action] ?? 'created', actor: s.actor };
    if (s.userIds.length > 0) sys['userIds'] = [...s.userIds];
    if (s.name !== undefined) sys['name'] = s.name;
    if (s.action === commonV1.SystemAction.ROLE) sys['role'] = roleName(s.role);
    out['system'] = sys;
  }
  return out;
}

export function presenceToJson(p: { userId: string; online: boolean; lastSeen: bigint }): Json {
  const out: Json = { userId: p.userId, status: p.online ? 'online' : 'offline' };
  if (p.lastSeen > 0n) out['lastSeen'] = isoFromMs(p.lastSeen);
  return out;
}

export function receiptToJson(r: eventsV1.ReceiptEvent): Json {
  if (r.status === eventsV1.ReceiptStatus.READ) {
    return { chatId: r.chatId, userId: r.userId, status: 'read', upToSeq: num(r.upToSeq) };
  }
  const out: Json = { chatId: r.chatId, userId: r.userId, status: 'delivered', seqs: r.seqs.map(num) };
  // A replayed delivered watermark (on connect): everything up to upToSeq was delivered to userId.
  if (r.upToSeq > 0n) out['upToSeq'] = num(r.upToSeq);
  return out;
}

export function typingToJson(t: eventsV1.TypingEvent): Json {
  return { chatId: t.chatId, userId: t.userId, state: t.typing ? 'typing' : 'paused' };
}

const LAST_SEEN_NAMES: Record<number, 'everyone' | 'contacts' | 'nobody'> = {
  [presenceV1.LastSeenVisibility.EVERYONE]: 'everyone',
  [presenceV1.LastSeenVisibility.CONTACTS]: 'contacts',
  [presenceV1.LastSeenVisibility.NOBODY]: 'nobody',
};

export function settingsToJson(s: presenceV1.Settings | undefined): Json {
  return { lastSeen: LAST_SEEN_NAMES[s?.lastSeen ?? 0] ?? 'everyone', readReceipts: s?.readReceipts ?? true };
}

export function lastSeenFromName(v: 'everyone' | 'contacts' | 'nobody'): presenceV1.LastSeenVisibility {
  return v === 'nobody'
    ? presenceV1.LastSeenVisibility.NOBODY
    : v === 'contacts'
      ? presenceV1.LastSeenVisibility.CONTACTS
      : presenceV1.LastSeenVisibility.EVERYONE;
}

export function platformFromName(p: OpData<'push.register'>['platform']): pushV1.Platform {
  switch (p) {
    case 'fcm':
      return pushV1.Platform.FCM;
    case 'apns':
      return pushV1.Platform.APNS;
    case 'webpush':
      return pushV1.Platform.WEBPUSH;
    default:
      return pushV1.Platform.WEBHOOK;
  }
}

export function tokensToJson(t: sessionV1.TokenPair | undefined): Json {
  return {
    userId: t?.userId ?? '',
    deviceId: t?.deviceId ?? '',
    accessToken: t?.accessToken ?? '',
    refreshToken: t?.refreshToken ?? '',
    expiresIn: t?.expiresIn ?? 0,
  };
}

export function deviceToJson(d: sessionV1.Device): Json {
  return { deviceId: d.deviceId, deviceName: d.deviceName, createdAt: isoFromMs(d.createdAt), lastSeenAt: isoFromMs(d.lastSeenAt) };
}

export function userToJson(u: sessionV1.User | undefined): Json {
  return { userId: u?.userId ?? '', username: u?.username ?? '', displayName: u?.displayName ?? '' };
}

export function mediaToJson(m: mediaV1.Media | undefined): Json {
  if (!m) return {};
  const out: Json = {
    mediaId: m.mediaId,
    contentType: m.contentType,
    size: num(m.size),
    sha256: m.sha256,
    state: m.state === mediaV1.MediaState.READY ? 'ready' : 'pending',
    createdAt: isoFromMs(m.createdAt),
  };
  if (m.fileName !== undefined) out['fileName'] = m.fileName;
  return out;
}

/** A gateway delivery as the protocol event it becomes; undefined for payloads that are not events (deviceRevoked). */
export function deliveryToEvent(d: eventsV1.GatewayDelivery): { event: string; data: Json } | undefined {
  const p = d.payload;
  switch (p.case) {
    case 'message':
      return { event: 'message.new', data: { message: messageToJson(p.value) } };
    case 'chatUpdated':
      return { event: 'chat.updated', data: { chat: chatToJson(p.value) } };
    case 'receipt':
      return { event: 'receipt', data: receiptToJson(p.value) };
    case 'typing':
      return { event: 'typing', data: typingToJson(p.value) };
    case 'presence':
      return { event: 'presence', data: { presence: presenceToJson(p.value) } };
    case 'receipts':
      return { event: 'receipts', data: { chatId: p.value.chatId, receipts: p.value.receipts.map(receiptToJson) } };
    default:
      return undefined;
  }
}
