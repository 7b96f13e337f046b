// This gateway's delivery channel: Redis pub/sub `parley:gw:<instanceId>` (namespace-prefixed), carrying
// protobuf `eventsV1.GatewayDelivery`. At-most-once fast path; the inbox backlog is the reliable path.
// Every gateway also listens on the broadcast channel `parley:gw-all`, used for the rare deliveries that
// must reach every connection of a device wherever it is (a device removal closes them all with 4001).
// Pub/sub keeps nothing for a subscriber that is away: when the subscription drops and comes back, `onGap`
// runs once it is active again, and the gateway resynchronises its connected devices from their cursors.
import { fromBinary } from '@bufbuild/protobuf';
import { createRedis, type Logger, type Redis } from '@parley/kit';
import { eventsV1 } from '@parley/proto';


export class DeliveryChannel {
  private readonly redis: Redis;
  private subscribed = false;
  /** The subscriber connection closed after subscribing: deliveries published meanwhile never arrive. */
  private lost = false;
  private closing = false;

  constructor(
    url: string,
    readonly channel: string,
    readonly broadcast: string,
    private readonly logger: Logger,
    private readonly onDelivery: (d: eventsV1.GatewayDelivery) => void,
    private readonly onGap: () => void = () => {},
    /** The Redis client name (CLIENT LIST), e.g. `gateway-deliveries:<instance>`. */
    name = 'gateway-deliveries',
  ) {
    this.redis = createRedis(url, { logger, name, subscriber: true });
    this.redis.on('close', () => {
      if (this.subscribed && !this.closing) this.lost = true;
    });
    this.redis.on('ready', () => {
      if (!this.lost || this.closing) return;
      this.lost = false;
      void this.resubscribed();
    });
    this.redis.on('messageBuffer', (ch: Buffer, payload: Buffer) => {
      const name = ch.toString();
      if (name !== this.channel && name !== this.broadcast) return;
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
    await this.redis.subscribe(this.channel, this.broadcast);
    this.subscribed = true;
    this.logger.info({ channel: this.channel, broadcast: this.broadcast }, 'subscribed to the delivery channels');
  }

  /** After a reconnect: make sure both channels are subscribed (ioredis also re-subscribes), then report the gap. */
  private async resubscribed(): Promise<void> {
    try {
      await this.redis.subscribe(this.channel, this.broadcast);
    } catch (err) {
      // The connection dropped again: its next 'ready' comes back here.
      this.lost = true;
      this.logger.warn({ err }, 're-subscribing the delivery channels failed');
      return;
    }
    this.logger.warn({ channel: this.channel }, 'delivery subscription was interrupted and is back: resynchronising connected devices');
    try {
      this.onGap();
    } catch (err) {
      this.logger.error({ err }, 'resynchronisation failed to start');
    }
  }

  /** Readiness: subscribed and the connection is up. */
  check(): Promise<void> {
    if (!this.subscribed || this.redis.status !== 'ready') return Promise.reject(new Error(`delivery subscriber ${this.redis.status}`));
    return Promise.resolve();
  }

  async close(): Promise<void> {
    this.closing = true;
    try {
      await this.redis.quit();
    } catch {
      this.redis.disconnect();
    }
  }
}
