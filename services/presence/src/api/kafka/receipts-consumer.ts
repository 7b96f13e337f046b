// Consumer group `presence-receipts` on chat.receipts.v1 (key chatId): one reader's receipts of one chat
// in order, different readers and chats concurrently. The watermark write is the effect committed after; the live frames leave
// through the coalescer (see domain/receipts.ts). Poison events go to the .dlq topic (the kit's runConsumer).
import { nsTopic, runConsumer, TOPICS, type ConsumerHandle, type Kafka, type Logger } from '@parley/kit';
import { eventsV1 } from '@parley/proto';
import type { ReceiptRouter } from '../../domain/receipts.js';

export const RECEIPTS_GROUP = 'presence-receipts';

export function startReceiptsConsumer(o: {
  kafka: Kafka;
  namespace: string;
  partitions: number;
  router: ReceiptRouter;
  logger: Logger;
  /** After each event: the event, and when its handling started (ms). */
  onEvent?: (ev: eventsV1.ReceiptEvent, startedAt: number) => void;
}): Promise<ConsumerHandle> {
  return runConsumer({
    kafka: o.kafka,
    groupId: nsTopic(o.namespace, RECEIPTS_GROUP),
    topic: nsTopic(o.namespace, TOPICS.chatReceipts),
    schema: eventsV1.ReceiptEventSchema,
    logger: o.logger,
    partitionsConsumedConcurrently: o.partitions,
    keyConcurrency: 64,
    // Lanes per (chat, reader), not per chat: a 1,024-member group's acks and reads are not one queue.
    // Safe because the effects commute across readers (monotonic marks, a commutative coalescer, the
    // per-device ledger) and one reader's events stay in order (the monotonic read check).
    laneOf: (key, ev) => (ev ? `${ev.chatId}|${ev.userId}` : (key?.toString() ?? '')), // undecodable: the handler dead-letters it
    handler: async (ev) => {
      const startedAt = Date.now();
      await o.router.handle(ev);
      o.onEvent?.(ev, startedAt);
    },
  });
}
