// push.requests.v1 (key deviceId) → PushWorker, pipelined: a held (collapsed) notification does not stall its
// partition; offsets are committed after the effect (sent, given up, or a retry stored on push.retry.v1).
// push.retry.v1 (key deviceId) → RetryWorker, pipelined too: a record waiting for its not-before time stays
// uncommitted, so kill -9 redelivers it to the next owner. session.events.v1 → device removed → its
// registration is deleted.
import { nsTopic, runConsumer, runPipelinedConsumer, TOPICS, type Kafka, type Logger } from '@parley/kit';
import { eventsV1 } from '@parley/proto';
import type { PushWorker } from '../../domain/push-worker.js';
import type { RetryWorker } from '../../domain/retry-worker.js';
import { fromRetryEvent } from '../../adapters/retries.js';
import type { RegistrationStore } from '../../adapters/registrations.js';

export async function startPushConsumers(o: {
  kafka: Kafka;
  namespace: string;
  worker: PushWorker;
  retries: RetryWorker;
  store: RegistrationStore;
  logger: Logger;
  maxInFlight: number;
  retryMaxInFlight: number;
  partitionsConsumedConcurrently: number;
  onUnreadableRetry(): void;
}): Promise<{ stop(): Promise<void>; inFlight(): number; retriesInFlight(): number }> {
  // Each consumer's group and topic under the namespace.
  const group = (groupId: string, topic: string) => ({ kafka: o.kafka, logger: o.logger, groupId: nsTopic(o.namespace, groupId), topic: nsTopic(o.namespace, topic) });
  const requests = await runPipelinedConsumer({
    ...group('push-sender', TOPICS.pushRequests),
    schema: eventsV1.PushRequestEventSchema,
    handler: (ev) => o.worker.handle(ev),
    maxInFlight: o.maxInFlight,
    partitionsConsumedConcurrently: o.partitionsConsumedConcurrently,
  });
  const retries = await runPipelinedConsumer({
    ...group('push-retry', TOPICS.pushRetry),
    schema: eventsV1.PushRetryEventSchema,
    handler: async (ev) => {
      const r = fromRetryEvent(ev);
      if (!r) return o.onUnreadableRetry();
      await o.retries.handle(r);
    },
    maxInFlight: o.retryMaxInFlight,
    partitionsConsumedConcurrently: o.partitionsConsumedConcurrently,
  });
  const sessions = await runConsumer({
    ...group('push-registrations', TOPICS.sessionEvents),
    schema: eventsV1.SessionEventSchema,
    handler: async (ev) => {
      if (ev.kind !== eventsV1.SessionEventKind.DEVICE_REMOVED || !ev.userId || !ev.deviceId) return;
      await o.store.unregister(ev.userId, ev.deviceId);
      o.logger.info({ userId: ev.userId, deviceId: ev.deviceId }, 'device removed: push registration deleted');
    },
    keyConcurrency: 16,
  });
  return {
    inFlight: () => requests.inFlight(),
    retriesInFlight: () => retries.inFlight(),
    async stop() {
      await Promise.all([requests.stop(), retries.stop(), sessions.stop()]);
    },
  };
}
