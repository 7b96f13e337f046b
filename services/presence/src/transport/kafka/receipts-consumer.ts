// Consumer group `presence-receipts` on chat.receipts.v1 (key chatId): one chat's receipts in order,
// different chats concurrently. The watermark write is the effect committed after; the live frames leave
// through the coalescer (see domain/receipts.ts). Poison events go to the .dlq topic (the kit's runConsumer).
import { nsTopic, runConsumer, TOPICS, type ConsumerHandle, type Kafka, type Logger } from '@parley/kit';
import { eventsV1 } from '@parley/proto';
import type { ReceiptRouter } from '../../domain/receipts.js';

export const RECEIPTS_GROUP = 'presence-receipts';

export function startReceiptsConsumer(o: { kafka: Kafka; namespace: string; partitions: number; router: ReceiptRouter; logger: Logger; onEvent?: () => void }): Promise<ConsumerHandle> {
  return runConsumer({
    kafka: o.kafka,
    groupId: nsTopic(o.namespace, RECEIPTS_GROUP),
    topic: nsTopic(o.namespace, TOPICS.chatReceipts),
    schema: eventsV1.ReceiptEventSchema,
    logger: o.logger,
    partitionsConsumedConcurrently: o.partitions,
    keyConcurrency: 64,
    handler: async (ev) => {
      await o.router.handle(ev);
      o.onEvent?.();
    },
  });
}
