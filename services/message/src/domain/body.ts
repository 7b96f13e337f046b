// Validation of a SendMessage body (protocol.md §4): exactly one of text (1–16 384 UTF-8 bytes) or
// ciphertext (≤ 64 KiB, stored untouched), unless attachments are present (then the body may be empty);
// at most 10 attachments; clientMsgId 8–64 chars; replyTo a positive seq.
import type { commonV1 } from '@parley/proto';
import { badRequest, tooLarge } from './errors.js';

export const MAX_TEXT_BYTES = 16_384;
export const MAX_CIPHERTEXT_BYTES = 64 * 1024;
export const MAX_ATTACHMENTS = 10;

export interface SendInput {
  chatId: string;
  clientMsgId: string;
  body: commonV1.MessageBody | undefined;
  attachmentMediaIds: string[];
  replyTo?: bigint | undefined;
}

export function validateSendInput(input: SendInput): void {
  if (!input.chatId) throw badRequest('chatId is required');
  const cm = input.clientMsgId;
  if (typeof cm !== 'string' || cm.length < 8 || cm.length > 64) {
    throw badRequest('clientMsgId must be 8–64 characters');
  }
  const ids = input.attachmentMediaIds;
  if (ids.length > MAX_ATTACHMENTS) throw badRequest(`at most ${MAX_ATTACHMENTS} attachments`);
  if (ids.some((id) => !id)) throw badRequest('attachments: empty mediaId');
  if (new Set(ids).size !== ids.length) throw badRequest('attachments: duplicate mediaId');
  const content = input.body?.content;
  if (!content || content.case === undefined) {
    if (ids.length === 0) throw badRequest('body needs exactly one of text or ciphertext');
  } else if (content.case === 'text') {
    const bytes = Buffer.byteLength(content.value, 'utf8');
    if (bytes < 1) throw badRequest('body.text must not be empty');
    if (bytes > MAX_TEXT_BYTES) throw tooLarge(`body.text exceeds ${MAX_TEXT_BYTES} bytes`);
  } else if (content.case === 'ciphertext') {
    if (content.value.byteLength < 1) throw badRequest('body.ciphertext must not be empty');
    if (content.value.byteLength > MAX_CIPHERTEXT_BYTES) throw tooLarge(`body.ciphertext exceeds ${MAX_CIPHERTEXT_BYTES} bytes`);
  }
  if (input.replyTo !== undefined && input.replyTo <= 0n) throw badRequest('replyTo must be a positive seq');
}
