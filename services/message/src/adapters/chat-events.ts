// Kafka events the message service produces (protobuf values through the kit's idempotent producer):
// chat.messages.v1 (key chatId), chat.media.v1 (key chatId: the same events, only those of messages with
// attachments), chat.receipts.v1 (key chatId), push.requests.v1 (key deviceId).
import { create } from '@bufbuild/protobuf';
import { nsTopic, TOPICS, type EventProducer } from '@parley/kit';
import { eventsV1, type commonV1 } from '@parley/proto';
import type { MessagePublisher, ReceiptPublisher } from '../domain/ports.js';

export class ChatEvents implements MessagePublisher, ReceiptPublisher {
  private readonly topics: { messages: string; media: string; receipts: string; push: string };

  constructor(
    private readonly producer: EventProducer,
    namespace: string,
  ) {
    this.topics = {
      messages: nsTopic(namespace, TOPICS.chatMessages),
      media: nsTopic(namespace, TOPICS.chatMedia),
      receipts: nsTopic(namespace, TOPICS.chatReceipts),
      push: nsTopic(namespace, TOPICS.pushRequests),
    };
  }

  /**
   * In order; concurrent publishes share one produce request (the kit producer's group commit). A message with
   * attachments also goes to chat.media.v1, in the same request: the media service's link consumer reads that
   * topic, so it no longer fetches and decodes every message of every chat to find the few with media. A
   * failure of either is this call's failure (the sender is told to retry; a retry republishes both).
   */
  async publishMessages(msgs: readonly commonV1.Message[]): Promise<void> {
    if (msgs.length === 0) return;
    const withMedia = msgs.filter((m) => m.attachments.length > 0);
    await Promise.all([
      this.producer.send(
        this.topics.messages,
        eventsV1.ChatMessageEventSchema,
        msgs.map((message) => ({ key: message.chatId, message: { message } })),
      ),
      withMedia.length > 0
        ? this.producer.send(
            this.topics.media,
            eventsV1.ChatMessageEventSchema,
            withMedia.map((message) => ({ key: message.chatId, message: { message } })),
          )
        : undefined,
    ]);
  }

  async publishDelivered(chatId: string, userId: string, receipts: Array<{ seq: bigint; sender: string }>, at: number): Promise<void> {
    await this.producer.sendOne(this.topics.receipts, eventsV1.ReceiptEventSchema, chatId, {
      chatId,
      userId,
      status: eventsV1.ReceiptStatus.DELIVERED,
      seqs: receipts.map((r) => r.seq),
      senders: receipts.map((r) => r.sender),
      at: BigInt(at),
    });
  }

  async publishRead(chatId: string, userId: string, upToSeq: bigint, at: number): Promise<void> {
    await this.producer.sendOne(this.topics.receipts, eventsV1.ReceiptEventSchema, chatId, {
      chatId,
      userId,
      status: eventsV1.ReceiptStatus.READ,
      upToSeq,
      at: BigInt(at),
    });
  }

  async publishPush(msg: commonV1.Message, devices: Array<{ userId: string; deviceId: string }>): Promise<void> {
    if (devices.length === 0) return;
    const content = pushContentOf(msg);
    await this.producer.send(
      this.topics.push,
      eventsV1.PushRequestEventSchema,
      devices.map((d) => ({
        key: d.deviceId,
        message: create(eventsV1.PushRequestEventSchema, {
          userId: d.userId,
          deviceId: d.deviceId,
          chatId: msg.chatId,
          seq: msg.seq,
          messageId: msg.messageId,
          senderUserId: msg.sender?.userId ?? '',
          createdAt: msg.createdAt,
          ...content,
        }),
      })),
    );
  }
}

/** What push may show (services/push applies the content rules): the body kind and, for text only, a preview. */
function pushContentOf(msg: commonV1.Message): { bodyKind: eventsV1.PushBodyKind; textPreview: string; attachmentCount: number } {
  const c = msg.body?.content;
  const attachmentCount = msg.attachments.length;
  if (c?.case === 'text') return { bodyKind: eventsV1.PushBodyKind.TEXT, textPreview: [...c.value].slice(0, 200).join(''), attachmentCount };
  if (c?.case === 'ciphertext') return { bodyKind: eventsV1.PushBodyKind.CIPHERTEXT, textPreview: '', attachmentCount };
  return { bodyKind: eventsV1.PushBodyKind.ATTACHMENTS, textPreview: '', attachmentCount };
}
