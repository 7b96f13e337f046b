// Side effects of session changes: DeviceRevoked deliveries on the gateways' broadcast Redis channel, and
// session events on Kafka `session.events.v1` (key userId) for presence. Session events are best effort:
// a Kafka outage must not stop people from connecting. Their order per user follows the call order of
// this replica (one idempotent producer, key userId).
import { create, toBinary } from '@bufbuild/protobuf';
import { eventsV1 } from '@parley/proto';
import { TOPICS, ensureTopics, nsTopic, type EventProducer, type Kafka, type Logger } from '@parley/kit';
import type { LiveConnection, NotifierPort } from '../domain/ports.js';
import type { ConnectionRegistry } from './registry.js';

const KIND = {
  connected: eventsV1.SessionEventKind.CONNECTED,
  disconnected: eventsV1.SessionEventKind.DISCONNECTED,
  device_removed: eventsV1.SessionEventKind.DEVICE_REMOVED,
} as const;

export interface NotifierOptions {
  namespace: string;
  partitions: number;
  replicationFactor: number;
  onEventResult?: (ok: boolean) => void;
}

export class SessionNotifier implements NotifierPort {
  private readonly topic: string;
  private readonly pending = new Set<Promise<void>>();
  private topicReady: Promise<void> | undefined;

  constructor(
    private readonly registry: ConnectionRegistry,
    private readonly kafka: Kafka,
    private readonly producer: EventProducer,
    private readonly logger: Logger,
    private readonly opts: NotifierOptions,
  ) {
    this.topic = nsTopic(opts.namespace, TOPICS.sessionEvents);
  }

  /** Creates `session.events.v1` (and its .dlq) if missing; failures are logged and retried on the next event. */
  ensureTopic(): Promise<void> {
    this.topicReady ??= ensureTopics(this.kafka, [{ topic: this.topic, numPartitions: this.opts.partitions, replicationFactor: this.opts.replicationFactor }]).then(
      () => undefined,
      (err: unknown) => {
        this.topicReady = undefined;
        this.logger.warn({ err: (err as Error).message, topic: this.topic }, 'session events topic not ensured');
      },
    );
    return this.topicReady;
  }

  async deviceRevoked(conn: LiveConnection, reason: string): Promise<void> {
    const delivery = create(eventsV1.GatewayDeliverySchema, {
      targets: [{ userId: conn.userId, deviceId: conn.deviceId }],
      payload: { case: 'deviceRevoked', value: { userId: conn.userId, deviceId: conn.deviceId, reason } },
    });
    // Broadcast, not only to conn.gatewayId: the registry holds one connection per device (the latest), and a
    // device with a second socket on another gateway must be closed too.
    await this.registry.broadcast(toBinary(eventsV1.GatewayDeliverySchema, delivery));
  }

  /** Fire and forget: never delays the RPC that caused it. `flush` waits for the ones in flight. */
  sessionEvent(kind: keyof typeof KIND, c: { userId: string; deviceId: string; gatewayId?: string; connectionId?: string }): void {
    const p = this.publish(kind, c);
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }

  async flush(timeoutMs: number): Promise<void> {
    const inFlight: Promise<void>[] = [...this.pending, ...(this.topicReady ? [this.topicReady] : [])];
    if (!inFlight.length) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled(inFlight), new Promise((r) => (timer = setTimeout(r, timeoutMs)))]);
    clearTimeout(timer);
  }

  private async publish(kind: keyof typeof KIND, c: { userId: string; deviceId: string; gatewayId?: string; connectionId?: string }): Promise<void> {
    try {
      await this.ensureTopic();
      await this.producer.sendOne(this.topic, eventsV1.SessionEventSchema, c.userId, {
        kind: KIND[kind],
        userId: c.userId,
        deviceId: c.deviceId,
        gatewayId: c.gatewayId ?? '',
        connectionId: c.connectionId ?? '',
        at: BigInt(Date.now()),
      });
      this.opts.onEventResult?.(true);
    } catch (err) {
      this.opts.onEventResult?.(false);
      this.logger.warn({ err: (err as Error).message, kind }, 'session event not published');
    }
  }
}
