// The fan-out worker: consumer group `message-fanout` on chat.messages.v1. Partitions are processed in
// order (one message at a time per partition, so per chat), offsets committed after the deliveries and
// push requests are published (the kit's runConsumer; poison events go to the .dlq topic).
import { nsTopic, runConsumer, TOPICS, type ConsumerHandle, type Kafka } from '@parley/kit';
import { eventsV1 } from '@parley/proto';
import type { AppContext } from '../../wiring.js';
import { changesMembership } from '../../domain/membership.js';

export const FANOUT_GROUP = 'message-fanout';

export function startFanoutWorker(ctx: AppContext, kafka: Kafka): Promise<ConsumerHandle> {
  const ns = ctx.cfg.namespace;
  return runConsumer({
    kafka,
    groupId: nsTopic(ns, FANOUT_GROUP),
    topic: nsTopic(ns, TOPICS.chatMessages),
    schema: eventsV1.ChatMessageEventSchema,
    logger: ctx.logger,
    partitionsConsumedConcurrently: ctx.cfg.kafkaTopicPartitions,
    // Chats (the key) are independent: many at once, each in seq order.
    keyConcurrency: ctx.cfg.fanoutConcurrency,
    handler: async (ev) => {
      const msg = ev.message;
      if (!msg || !msg.chatId || msg.seq <= 0n) return;
      const t0 = performance.now();
      if (changesMembership(msg)) ctx.authorizer.invalidate(msg.chatId);
      const stats = await ctx.router.route(msg);
      ctx.metrics.fanoutMessages.inc();
      ctx.metrics.fanoutTargets.inc({ path: 'gateway' }, stats.online);
      ctx.metrics.fanoutTargets.inc({ path: 'push' }, stats.offline);
      ctx.metrics.fanoutSeconds.observe((performance.now() - t0) / 1000);
    },
  });
}
