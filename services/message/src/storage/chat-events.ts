// Kafka events the message service produces (protobuf values through the kit's idempotent producer):
// chat.messages.v1 (key chatId), chat.receipts.v1 (key chatId), push.requests.v1 (key deviceId).
import { create } from '@bufbuild/protobuf';
import { nsTopic, TOPICS, type EventProducer } from '@parley/kit';
import { eventsV1, type commonV1 } from '@parley/proto';
import type { MessagePublisher, ReceiptPublisher } from '../domain/ports.js';

export class ChatEvents implements MessagePublisher, ReceiptPublisher {
  private readonly topics: { messages: string; receipts: string; push: string };

  constructor(
    private readonly producer: EventProducer,
    namespace: string,
  ) {
    this.topics = {
      messages: nsTopic(namespace, TOPICS.chatMessages),
      receipts: nsTopic(namespace, TOPICS.chatReceipts),
      push: nsTopic(namespace, TOPICS.pushRequests),
    };
  }

  // Group commit for the producer: publishes issued while one produce request is in flight are sent
  // together in the next request (kafkajs sends one request per send() call, and the idempotent producer
  // allows one in flight). Order of enqueueing — so per-chat seq order — is kept.
  private queued: Array<{ msgs: readonly commonV1.Message[]; resolve(): void; reject(err: unknown): void }> = [];
  private flushing = false;

  publishMessages(msgs: readonly commonV1.Message[]): Promise<void> {
    if (msgs.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.queued.push({ msgs, resolve, reject });
      if (!this.flushing) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      while (this.queued.length > 0) {
        const batch = this.queued.splice(0, 500);
        try {
          await this.producer.send(
            this.topics.messages,
            eventsV1.ChatMessageEventSchema,
            batch.flatMap((b) => b.msgs.map((message) => ({ key: message.chatId, message: { message } }))),
          );
          for (const b of batch) b.resolve();
        } catch (err) {
          for (const b of batch) b.reject(err);
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  async publishDelivered(chatId: string, userId: string, seqs: bigint[], at: number): Promise<void> {
    await this.producer.sendOne(this.topics.receipts, eventsV1.ReceiptEventSchema, chatId, {
      chatId,
      userId,
      status: eventsV1.ReceiptStatus.DELIVERED,
      seqs,
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
        }),
      })),
    );
  }
}
