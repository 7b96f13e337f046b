// Consumer group `media-links` on chat.media.v1 (the committed messages that carry attachments, published by the
// message service beside chat.messages.v1): for every one, record
// media → (chat, seq), which is what download authorization reads. Durable and healed by Kafka's
// at-least-once delivery (offsets are committed after the link is written); the write is idempotent.
import { nsTopic, runConsumer, TOPICS, type ConsumerHandle, type Kafka, type Logger } from '@parley/kit';
import { eventsV1 } from '@parley/proto';
import type { MediaManager } from '../../domain/media-manager.js';

export const LINKS_GROUP = 'media-links';

export function startLinksConsumer(o: { kafka: Kafka; namespace: string; partitions: number; logger: Logger; mgr: MediaManager }): Promise<ConsumerHandle> {
  return runConsumer({
    kafka: o.kafka,
    groupId: nsTopic(o.namespace, LINKS_GROUP),
    topic: nsTopic(o.namespace, TOPICS.chatMedia),
    schema: eventsV1.ChatMessageEventSchema,
    logger: o.logger,
    partitionsConsumedConcurrently: o.partitions,
    keyConcurrency: 16,
    handler: async (ev) => {
      const msg = ev.message;
      if (!msg || !msg.chatId || msg.seq <= 0n || msg.attachments.length === 0) return;
      await Promise.all(msg.attachments.map((a) => o.mgr.recordLink(a.mediaId, msg.chatId, Number(msg.seq))));
    },
  });
}
