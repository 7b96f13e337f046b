// Cluster-wide limits in Redis: every replica of a service shares one budget per key, so a second
// gateway (or a new device) does not reset it. Token buckets and lock-out windows, each one atomic Lua
// script, keys under the deployment's namespace.
import type { Redis } from 'ioredis';
import { nsKey } from './config.js';

export interface BucketRate {
  /** Tokens added per minute (0: the bucket never refills). */
  perMinute: number;
  /** Bucket size (the burst). */
  burst: number;
}

// KEYS[1] bucket; ARGV burst, tokens per ms, now (ms), cost. Returns 0 when taken, else ms until it could be.
const TAKE = `
local burst = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local cost = tonumber(ARGV[4])
local b = redis.call('HMGET', KEYS[1], 't', 'ts')
local tokens = tonumber(b[1]) or burst
local ts = tonumber(b[2]) or now
if now > ts then
  tokens = math.min(burst, tokens + (now - ts) * rate)
  ts = now
end
local retry = 0
if tokens >= cost then
  tokens = tokens - cost
elseif rate <= 0 then
  retry = 60000
else
  retry = math.ceil((cost - tokens) / rate)
end
redis.call('HSET', KEYS[1], 't', tostring(tokens), 'ts', tostring(ts))
local ttl = 3600000
if rate > 0 then ttl = math.ceil(burst / rate) + 1000 end
redis.call('PEXPIRE', KEYS[1], ttl)
return retry
`;

// KEYS[1] failure counter, KEYS[2] lock; ARGV threshold, base ms, max ms, window ms.
// Returns the lock now in force (ms, 0 if none).
const FAIL = `
local n = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[4]))
local threshold = tonumber(ARGV[1])
if n < threshold then return 0 end
local ms = tonumber(ARGV[2]) * (2 ^ (n - threshold))
if ms > tonumber(ARGV[3]) then ms = tonumber(ARGV[3]) end
ms = math.floor(ms)
redis.call('SET', KEYS[2], n, 'PX', ms)
return ms
`;

type Scripted = Redis & {
  parleyTake(key: string, burst: number, rate: number, now: number, cost: number): Promise<number>;
  parleyFail(failKey: string, lockKey: string, threshold: number, baseMs: number, maxMs: number, windowMs: number): Promise<number>;
};

function scripted(redis: Redis): Scripted {
  const r = redis as Scripted;
  if (typeof r.parleyTake !== 'function') {
    redis.defineCommand('parleyTake', { numberOfKeys: 1, lua: TAKE });
    redis.defineCommand('parleyFail', { numberOfKeys: 2, lua: FAIL });
  }
  return r;
}

/** Token buckets shared by every process that uses the same Redis and namespace. */
export class RedisRateLimiter {
  private readonly redis: Scripted;

  constructor(
    redis: Redis,
    private readonly namespace: string,
    private readonly now: () => number = Date.now,
  ) {
    this.redis = scripted(redis);
  }

  /** Takes `cost` tokens from bucket `key`: 0 when allowed, else the milliseconds until it would be. */
  async take(key: string, rate: BucketRate, cost = 1): Promise<number> {
    const perMs = rate.perMinute / 60_000;
    return Number(await this.redis.parleyTake(nsKey(this.namespace, `parley:rl:${key}`), rate.burst, perMs, this.now(), cost));
  }
}

export interface LockoutPolicy {
  /** Failures (within `windowMs` of each other) before the first lock. */
  threshold: number;
  /** The first lock; each further failure doubles it. */
  baseMs: number;
  maxMs: number;
  /** A failure is forgotten this long after the last one. */
  windowMs: number;
}

/**
 * Lock-out windows with exponential backoff (failed logins): after `threshold` failures in a row the
 * subject is locked for baseMs, then 2×, 4×, … up to maxMs per further failure. A success clears it.
 */
export class RedisLockout {
  private readonly redis: Scripted;

  constructor(
    redis: Redis,
    private readonly namespace: string,
    private readonly policy: LockoutPolicy,
  ) {
    this.redis = scripted(redis);
  }

  private keys(subject: string): [string, string] {
    return [nsKey(this.namespace, `parley:lock:fail:${subject}`), nsKey(this.namespace, `parley:lock:on:${subject}`)];
  }

  /** Milliseconds the subject is still locked (0: not locked). */
  async lockedFor(subject: string): Promise<number> {
    const ttl = await this.redis.pttl(this.keys(subject)[1]);
    return ttl > 0 ? ttl : 0;
  }

  /** Records a failure; returns the lock now in force (0 if none yet). */
  async failed(subject: string): Promise<number> {
    const [f, l] = this.keys(subject);
    const p = this.policy;
    return Number(await this.redis.parleyFail(f, l, p.threshold, p.baseMs, p.maxMs, p.windowMs));
  }

  async succeeded(subject: string): Promise<void> {
    await this.redis.del(...this.keys(subject));
  }
}
