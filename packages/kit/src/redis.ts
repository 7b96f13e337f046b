// Redis (ioredis): reconnects forever with backoff, so a Redis restart heals without a service restart.
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { nsKey } from './config.js';

export { Redis };

/**
 * The gateways' Redis pub/sub channels (protobuf `GatewayDelivery`), one definition for the publishers
 * (session, group, message) and the subscribers (gateway): each gateway's own channel, and the broadcast
 * channel every gateway also listens to (deliveries that must reach a device wherever it is connected).
 */
export function gatewayChannel(namespace: string, gatewayId: string): string {
  return nsKey(namespace, `parley:gw:${gatewayId}`);
}

export function gatewayBroadcastChannel(namespace: string): string {
  return nsKey(namespace, 'parley:gw-all');
}

/** Reconnect delay: 100 ms, 200 ms, … capped at 2 s, forever (never gives up). */
export function redisRetryDelay(times: number): number {
  return Math.min(100 * times, 2000);
}

/**
 * One Redis connection. Commands issued while disconnected wait for the reconnect and fail after
 * `maxRetriesPerRequest` (2) reconnect attempts, so a caller sees an error within ~1 s instead of hanging;
 * map it to `unavailable`. A subscriber connection (`subscriber: true`) never fails its commands
 * (`maxRetriesPerRequest: null`) and ioredis re-subscribes its channels after a reconnect.
 */
export function createRedis(url: string, opts: { logger: Logger; name: string; subscriber?: boolean; autoPipelining?: boolean }): Redis {
  const log = opts.logger.child({ subsystem: 'redis', conn: opts.name });
  const redis = new Redis(url, {
    connectionName: opts.name,
    lazyConnect: false,
    enableReadyCheck: true,
    connectTimeout: 5000,
    maxRetriesPerRequest: opts.subscriber ? null : 2,
    retryStrategy: redisRetryDelay,
    // Reconnect only when a failover made this node a replica; other error replies are the caller's business.
    reconnectOnError: (err) => (err.message.startsWith('READONLY') ? 2 : false),
    // Commands issued in one turn of the event loop go out in one write (e.g. a fan-out's PUBLISHes).
    enableAutoPipelining: opts.autoPipelining ?? false,
  });
  let down = false;
  redis.on('error', (err: Error) => {
    if (!down) log.warn({ err: err.message }, 'redis error');
    down = true;
  });
  redis.on('ready', () => {
    if (down) log.info('redis reconnected');
    down = false;
  });
  return redis;
}
