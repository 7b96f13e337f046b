import { create } from '@bufbuild/protobuf';
import { commonV1, eventsV1 } from '@parley/proto';
import { bodyFromJson, chatToJson, deliveryToEvent, isoFromMs, messageToJson, presenceToJson, receiptToJson } from './mapping.js';

describe('mapping', () => {
  it('renders times as ISO 8601 with milliseconds', () => {
    expect(isoFromMs(1700000000123n)).toBe('2023-11-14T22:13:20.123Z');
  });

  it('maps a chat with enums as strings and seq as a number', () => {
    const chat = create(commonV1.ChatSchema, {
      chatId: 'c1',
      type: commonV1.ChatType.GROUP,
      name: 'g',
      members: [
        { userId: 'a', role: commonV1.MemberRole.ADMIN },
        { userId: 'b', role: commonV1.MemberRole.MEMBER },
      ],
      createdAt: 1000n,
      lastSeq: 42n,
    });
    expect(chatToJson(chat)).toEqual({
      chatId: 'c1',
      type: 'group',
      name: 'g',
      members: [
        { userId: 'a', role: 'admin' },
        { userId: 'b', role: 'member' },
      ],
      createdAt: '1970-01-01T00:00:01.000Z',
      lastSeq: 42,
    });
  });

  it('maps user and system messages; ciphertext round-trips through base64', () => {
    const bytes = new Uint8Array([0, 1, 2, 250, 255]);
    const m = create(commonV1.MessageSchema, {
      chatId: 'c',
      seq: 7n,
      messageId: 'm',
      kind: commonV1.MessageKind.USER,
      sender: { userId: 'a', deviceId: 'd' },
      clientMsgId: 'abcdefgh',
      body: { content: { case: 'ciphertext', value: bytes } },
      attachments: [{ mediaId: 'x', contentType: 'image/png', size: 10n, sha256: 'h' }],
      replyTo: 3n,
      createdAt: 0n,
    });
    const json = messageToJson(m);
    expect(json).toMatchObject({ seq: 7, kind: 'user', replyTo: 3, body: { ciphertext: Buffer.from(bytes).toString('base64') } });
    expect(json['attachments']).toEqual([{ mediaId: 'x', contentType: 'image/png', size: 10, sha256: 'h' }]);
    const back = bodyFromJson(json['body'] as { ciphertext: string });
    expect(back.case).toBe('ciphertext');
    expect([...(back.value as Uint8Array)]).toEqual([...bytes]);

    const sys = create(commonV1.MessageSchema, {
      chatId: 'c',
      seq: 1n,
      kind: commonV1.MessageKind.SYSTEM,
      system: { action: commonV1.SystemAction.MEMBERS_ADDED, actor: 'a', userIds: ['b'] },
    });
    expect(messageToJson(sys)).toMatchObject({ kind: 'system', body: {}, system: { action: 'members.added', actor: 'a', userIds: ['b'] } });
    expect(messageToJson(sys)).not.toHaveProperty('replyTo');
  });

  it('maps receipts, presence and deliveries to protocol events', () => {
    expect(receiptToJson(create(eventsV1.ReceiptEventSchema, { chatId: 'c', userId: 'u', status: eventsV1.ReceiptStatus.DELIVERED, seqs: [1n, 2n] }))).toEqual({
      chatId: 'c',
      userId: 'u',
      status: 'delivered',
      seqs: [1, 2],
    });
    expect(receiptToJson(create(eventsV1.ReceiptEventSchema, { chatId: 'c', userId: 'u', status: eventsV1.ReceiptStatus.READ, upToSeq: 9n }))).toEqual({
      chatId: 'c',
      userId: 'u',
      status: 'read',
      upToSeq: 9,
    });
    expect(presenceToJson({ userId: 'u', online: false, lastSeen: 0n })).toEqual({ userId: 'u', status: 'offline' });
    const d = create(eventsV1.GatewayDeliverySchema, { payload: { case: 'typing', value: { chatId: 'c', userId: 'u', typing: false } } });
    expect(deliveryToEvent(d)).toEqual({ event: 'typing', data: { chatId: 'c', userId: 'u', state: 'paused' } });
    const r = create(eventsV1.GatewayDeliverySchema, { payload: { case: 'deviceRevoked', value: { userId: 'u', deviceId: 'd' } } });
    expect(deliveryToEvent(r)).toBeUndefined();
  });
  it('maps a coalesced receipt batch and a replayed delivered watermark', () => {
    const ev = deliveryToEvent(
      create(eventsV1.GatewayDeliverySchema, {
        payload: {
          case: 'receipts',
          value: {
            chatId: 'g',
            receipts: [
              { chatId: 'g', userId: 'a', status: eventsV1.ReceiptStatus.DELIVERED, seqs: [4n], upToSeq: 4n },
              { chatId: 'g', userId: 'b', status: eventsV1.ReceiptStatus.READ, upToSeq: 3n },
            ],
          },
        },
      }),
    );
    expect(ev).toEqual({
      event: 'receipts',
      data: {
        chatId: 'g',
        receipts: [
          { chatId: 'g', userId: 'a', status: 'delivered', seqs: [4], upToSeq: 4 },
          { chatId: 'g', userId: 'b', status: 'read', upToSeq: 3 },
        ],
      },
    });
  });
});
