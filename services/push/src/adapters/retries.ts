// push.retry.v1 (key deviceId): deferred attempts (domain/dispatcher.ts `defer`), consumed again by the push
// service itself (domain/retry-worker.ts), so a wait for Retry-After survives kill -9.
import { create } from '@bufbuild/protobuf';
import { nsTopic, TOPICS, type EventProducer } from '@parley/kit';
import { eventsV1 } from '@parley/proto';
import type { DeferredRetry } from '../domain/dispatcher.js';
import type { StoredRetry } from '../domain/retry-worker.js';
import { PLATFORMS, type PlatformName } from '../domain/types.js';

export function toRetryEvent(d: DeferredRetry): eventsV1.PushRetryEvent {
  const { n } = d;
  return create(eventsV1.PushRetryEventSchema, {
    userId: n.userId,
    deviceId: n.deviceId,
    chatId: n.chatId,
    seq: n.seq,
    messageId: n.messageId,
    notificationId: n.id,
    collapseKey: n.collapseKey,
    badge: n.badge,
    title: n.title,
    body: n.body,
    hasPreview: n.hasPreview,
    createdAt: BigInt(Math.trunc(n.createdAt)),
    platform: d.reg.platform,
    token: d.reg.token,
    attempt: d.attempt,
    notBefore: BigInt(Math.ceil(d.notBefore)),
    reason: d.reason,
  });
}

/** undefined: not a retry this version understands (the consumer counts and drops it). */
export function fromRetryEvent(ev: eventsV1.PushRetryEvent): StoredRetry | undefined {
  if (!ev.userId || !ev.deviceId || !ev.chatId || !ev.notificationId || ev.attempt < 1) return undefined;
  if (!PLATFORMS.includes(ev.platform as PlatformName)) return undefined;
  return {
    n: {
      id: ev.notificationId,
      userId: ev.userId,
      deviceId: ev.deviceId,
      chatId: ev.chatId,
      seq: ev.seq,
      messageId: ev.messageId,
      badge: ev.badge,
      collapseKey: ev.collapseKey,
      title: ev.title,
      body: ev.body,
      hasPreview: ev.hasPreview,
      createdAt: Number(ev.createdAt),
    },
    platform: ev.platform as PlatformName,
    token: ev.token,
    attempt: ev.attempt,
    notBefore: Number(ev.notBefore),
  };
}

/** The dispatcher's `defer`: resolves once Kafka acked the record (acks = all). */
export function retryProducer(producer: EventProducer, namespace: string): (d: DeferredRetry) => Promise<void> {
  const topic = nsTopic(namespace, TOPICS.pushRetry);
  return (d) => producer.send(topic, eventsV1.PushRetryEventSchema, d.n.deviceId, toRetryEvent(d));
}
