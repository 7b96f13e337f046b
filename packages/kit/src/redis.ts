// Redis (ioredis): reconnects forever with backoff, so a Redis restart heals without a service restart.
import { Redis } from 'ioredis';
import type { Logger } from 'pino';

export { Redis };

export function createRedis(url: string, opts: { logger: Logger; name: string; subscriber?: boolean }): Redis {
  const log = opts.logger.child({ subsystem: 'redis', conn: opts.name });
  const redis = new Redis(url, {
    connectionName: opts.name,
    lazyConnect: false,
    enableReadyCheck: true,
    // Commands wait for a reconnect up to this many retries, then fail (the caller maps to `unavailable`).
    maxRetriesPerRequest: opts.subscriber ? null : 2,
    retryStrategy: (times) => Math.min(100 * times, 2000),
    reconnectOnError: () => true,
  });
  let down = false;
  redis.on('error', (err) => {
    if (!down) log.warn({ err: err.message }, 'redis error');
    down = true;
  });
  redis.on('ready', () => {
    if (down) log.info('redis reconnected');
    down = false;
  });
  return redis;
}
