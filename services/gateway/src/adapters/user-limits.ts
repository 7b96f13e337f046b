// Per-user budgets of WebSocket ops, cluster-wide in Redis (issue 15): the per-device buckets live in one
// gateway's memory, so a user with several devices, or one device reconnecting to the other gateway, would get
// a fresh budget each time. message.send is also limited per user here, in one token bucket shared by every
// device of the user on every gateway (@parley/kit RedisRateLimiter, one atomic script per send).
import { RedisRateLimiter, type Logger, type Redis } from '@parley/kit';
import type { GatewayConfig } from '../config.js';

/** A Redis answer slower than this lets the send through (counted): a slow store must not stall every send. */
const REDIS_BUDGET_MS = 250;

export class UserLimits {
  private readonly buckets: RedisRateLimiter;
  private lastWarn = 0;

  constructor(
    redis: Redis,
    private readonly cfg: Pick<GatewayConfig, 'namespace' | 'userRates'>,
    private readonly logger: Logger,
    private readonly unchecked?: { inc(labels: { op: string }): void },
  ) {
    this.buckets = new RedisRateLimiter(redis, cfg.namespace);
  }

  /**
   * Takes one message.send token of `userId`: 0 when allowed, else the milliseconds until one is back. If Redis
   * fails or is slow the send goes through (sends must not depend on Redis, which only carries live delivery;
   * the per-device bucket still applies), logged at most every 10 s and counted.
   */
  async send(userId: string): Promise<number> {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        this.buckets.take(`user:send:${userId}`, this.cfg.userRates.send),
        new Promise<number>((_, fail) => {
          timer = setTimeout(() => fail(new Error(`no answer from Redis in ${REDIS_BUDGET_MS} ms`)), REDIS_BUDGET_MS);
        }),
      ]);
    } catch (err) {
      this.unchecked?.inc({ op: 'message.send' });
      const now = Date.now();
      if (now - this.lastWarn > 10_000) {
        this.lastWarn = now;
        this.logger.warn({ err }, 'per-user send limit not checked (Redis); letting sends through');
      }
      return 0;
    } finally {
      if (timer) clearTimeout(timer);
    }
  }
}
