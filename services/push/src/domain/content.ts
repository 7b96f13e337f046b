// What a notification may say (issue 12 content rules): for text bodies a preview (sender name and a truncated
// text) unless previews are off; for ciphertext never any content, only "new message" and the chatId.
import { createHash } from 'node:crypto';
import { eventsV1 } from '@parley/proto';
import type { Notification } from './types.js';

export const GENERIC_TITLE = 'New message';

export interface ContentOptions {
  previews: boolean;
  previewMaxChars: number;
}

export function truncate(text: string, max: number): string {
  const chars = [...text.replace(/\s+/g, ' ').trim()];
  if (chars.length <= max) return chars.join('');
  return `${chars.slice(0, Math.max(0, max - 1)).join('')}…`;
}

/** A stable UUID-shaped id for (device, chat, seq): APNs apns-id, FCM/webhook dedupe key. */
export function notificationId(deviceId: string, chatId: string, seq: bigint): string {
  const h = createHash('sha256').update(`${deviceId}\0${chatId}\0${seq}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** A collapse key that fits every provider (Web Push Topic: ≤ 32 base64url chars; APNs collapse-id ≤ 64 bytes). */
export function collapseKeyOf(chatId: string): string {
  return createHash('sha256').update(chatId).digest('base64url').slice(0, 32);
}

export function renderNotification(
  ev: eventsV1.PushRequestEvent,
  badge: number,
  opts: ContentOptions,
  senderName: string | undefined,
): Notification {
  const base = {
    id: notificationId(ev.deviceId, ev.chatId, ev.seq),
    userId: ev.userId,
    deviceId: ev.deviceId,
    chatId: ev.chatId,
    seq: ev.seq,
    messageId: ev.messageId,
    badge,
    collapseKey: collapseKeyOf(ev.chatId),
    createdAt: Number(ev.createdAt),
  };
  if (!opts.previews || ev.bodyKind === eventsV1.PushBodyKind.CIPHERTEXT || ev.bodyKind === eventsV1.PushBodyKind.UNSPECIFIED) {
    return { ...base, title: GENERIC_TITLE, body: '', hasPreview: false };
  }
  const title = senderName && senderName.length > 0 ? senderName : GENERIC_TITLE;
  if (ev.bodyKind === eventsV1.PushBodyKind.ATTACHMENTS) {
    return { ...base, title, body: ev.attachmentCount > 1 ? `${ev.attachmentCount} attachments` : 'Attachment', hasPreview: true };
  }
  return { ...base, title, body: truncate(ev.textPreview, opts.previewMaxChars), hasPreview: true };
}
