import { create } from '@bufbuild/protobuf';
import { commonV1 } from '@parley/proto';
import { validateSendInput, MAX_TEXT_BYTES, MAX_CIPHERTEXT_BYTES } from './body.js';

const text = (value: string) => create(commonV1.MessageBodySchema, { content: { case: 'text', value } });
const cipher = (n: number) => create(commonV1.MessageBodySchema, { content: { case: 'ciphertext', value: new Uint8Array(n) } });
const base = { chatId: 'c', clientMsgId: 'client-0001', attachmentMediaIds: [] as string[] };

describe('validateSendInput', () => {
  it('accepts text and ciphertext at their limits', () => {
    expect(() => validateSendInput({ ...base, body: text('a') })).not.toThrow();
    expect(() => validateSendInput({ ...base, body: text('é'.repeat(MAX_TEXT_BYTES / 2)) })).not.toThrow();
    expect(() => validateSendInput({ ...base, body: cipher(MAX_CIPHERTEXT_BYTES) })).not.toThrow();
  });
  it('counts UTF-8 bytes, not characters', () => {
    expect(() => validateSendInput({ ...base, body: text('é'.repeat(MAX_TEXT_BYTES / 2 + 1)) })).toThrow(expect.objectContaining({ code: 'too_large' }));
  });
  it('rejects empty, missing and oversized bodies', () => {
    expect(() => validateSendInput({ ...base, body: text('') })).toThrow(expect.objectContaining({ code: 'bad_request' }));
    expect(() => validateSendInput({ ...base, body: undefined })).toThrow(expect.objectContaining({ code: 'bad_request' }));
    expect(() => validateSendInput({ ...base, body: cipher(MAX_CIPHERTEXT_BYTES + 1) })).toThrow(expect.objectContaining({ code: 'too_large' }));
  });
  it('allows an empty body with attachments, at most 10 distinct', () => {
    expect(() => validateSendInput({ ...base, body: undefined, attachmentMediaIds: ['m1'] })).not.toThrow();
    const eleven = Array.from({ length: 11 }, (_, i) => `m${i}`);
    expect(() => validateSendInput({ ...base, body: undefined, attachmentMediaIds: eleven })).toThrow(expect.objectContaining({ code: 'bad_request' }));
    expect(() => validateSendInput({ ...base, body: undefined, attachmentMediaIds: ['m', 'm'] })).toThrow(expect.objectContaining({ code: 'bad_request' }));
  });
  it('checks clientMsgId length and replyTo', () => {
    expect(() => validateSendInput({ ...base, clientMsgId: 'short', body: text('a') })).toThrow(expect.objectContaining({ code: 'bad_request' }));
    expect(() => validateSendInput({ ...base, clientMsgId: 'x'.repeat(65), body: text('a') })).toThrow(expect.objectContaining({ code: 'bad_request' }));
    expect(() => validateSendInput({ ...base, body: text('a'), replyTo: 0n })).toThrow(expect.objectContaining({ code: 'bad_request' }));
  });
});
