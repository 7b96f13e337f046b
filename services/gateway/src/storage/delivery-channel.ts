// This gateway's delivery channel: Redis pub/sub `parley:gw:<instanceId>` (namespace-prefixed), carrying
// protobuf `eventsV1.GatewayDelivery`. At-most-once fast path; the inbox backlog is the reliable path.
import { fromBinary } from '@bufbuild/protobuf';
import { createRedis, nsKey, type Logger, type Redis } from '@parley/kit';
import { eventsV1 } from '@parley/proto';

export function deliveryChannel(namespace: string, instanceId: string): string {
  return nsKey(namespace, `parley:gw:${instanceId}`);
}

export class DeliveryChannel {
  private readonly redis: Redis;
  private subscribed = false;

  constructor(
    url: string,
    readonly channel: string,
    private readonly logger: Logger,
    private readonly onDelivery: (d: eventsV1.GatewayDelivery) => void,
  ) {
    this.redis = createRedis(url, { logger, name: 'gateway-deliveries', subscriber: true });
    this.redis.on('messageBuffer', (ch: Buffer, payload: Buffer) => {
      if (ch.toString() !== this.channel) return;
      let d: eventsV1.GatewayDelivery;
      try {
        d = fromBinary(eventsV1.GatewayDeliverySchema, payload);
      } catch (err) {
        this.logger.warn({ err }, 'undecodable gateway delivery dropped');
        return;
      }
      try {
        this.onDelivery(d);
      } catch (err) {
        this.logger.error({ err }, 'delivery handling failed');
      }
    });
  }

  async start(): Promise<void> {
    await this.redis.subscribe(this.channel);
    this.subscribed = true;
    this.logger.info({ channel: this.channel }, 'subscribed to the delivery channel');
  }

  /** Readiness: subscribed and the connection is up. */
  check(): Promise<void> {
    if (!this.subscribed || this.redis.status !== 'ready') return Promise.reject(new Error(`delivery subscriber ${this.redis.status}`));
    return Promise.resolve();
  }

  async close(): Promise<void> {
    try {
      await this.redis.quit();
    } catch {
      this.redis.disconnect();
    }
  }
}
