// Side effects of session changes: DeviceRevoked deliveries on the holding gateway's Redis channel, and
// session events on Kafka `session.events.v1` (key userId) for presence. Session events are best effort:
// a Kafka outage must not stop people from connecting.
import { create, toBinary } from '@bufbuild/protobuf';
import { eventsV1 } from '@parley/proto';
import { TOPICS, nsTopic, type EventProducer, type Logger } from '@parley/kit';
import type { NotifierPort } from '../domain/ports.js';
import type { ConnectionRegistry, LiveConnection } from './registry.js';

const KIND = {
  connected: eventsV1.SessionEventKind.CONNECTED,
  disconnected: eventsV1.SessionEventKind.DISCONNECTED,
  device_removed: eventsV1.SessionEventKind.DEVICE_REMOVED,
} as const;

export class SessionNotifier implements NotifierPort {
  constructor(
    private readonly registry: ConnectionRegistry,
    private readonly producer: EventProducer,
    private readonly ns: string,
    private readonly logger: Logger,
  ) {}

  async deviceRevoked(conn: LiveConnection, reason: string): Promise<void> {
    const delivery = create(eventsV1.GatewayDeliverySchema, {
      targets: [{ userId: conn.userId, deviceId: conn.deviceId }],
      payload: { case: 'deviceRevoked', value: { userId: conn.userId, deviceId: conn.deviceId, reason } },
    });
    await this.registry.publish(conn.gatewayId, toBinary(eventsV1.GatewayDeliverySchema, delivery));
  }

  /** Fire and forget: never delays the RPC that caused it. */
  async sessionEvent(
    kind: keyof typeof KIND,
    c: { userId: string; deviceId: string; gatewayId?: string; connectionId?: string },
  ): Promise<void> {
    void this.publish(kind, c);
  }

  private async publish(kind: keyof typeof KIND, c: { userId: string; deviceId: string; gatewayId?: string; connectionId?: string }): Promise<void> {
    try {
      await this.producer.sendOne(nsTopic(this.ns, TOPICS.sessionEvents), eventsV1.SessionEventSchema, c.userId, {
        kind: KIND[kind],
        userId: c.userId,
        deviceId: c.deviceId,
        gatewayId: c.gatewayId ?? '',
        connectionId: c.connectionId ?? '',
        at: BigInt(Date.now()),
      });
    } catch (err) {
      this.logger.warn({ err: (err as Error).message, kind }, 'session event not published');
    }
  }
}
