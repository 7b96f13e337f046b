// Token buckets per device and op class (after Signal-Server's RateLimiter: a bucket size and a leak
// rate). Pure: the clock is injected.
/** The rate classes every op belongs to (api/wire/frames.ts OPS names each op's class). */
export type RateClass = 'send' | 'typing' | 'mutate' | 'read' | 'ack' | 'misc';

export interface BucketConfig {
  /** Tokens added per minute. */
  perMinute: number;
  /** Bucket size (the burst). */
  burst: number;
}

export type RateConfig = Record<RateClass, BucketConfig>;

export const DEFAULT_RATES: RateConfig = {
  send: { perMinute: 60, burst: 20 },
  typing: { perMinute: 60, burst: 10 },
  mutate: { perMinute: 60, burst: 20 },
  read: { perMinute: 600, burst: 100 },
  ack: { perMinute: 1200, burst: 200 },
  misc: { perMinute: 600, burst: 100 },
};

export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly cfg: BucketConfig,
    now: number,
  ) {
    this.tokens = cfg.burst;
    this.last = now;
  }

  private refill(now: number): void {
    if (now > this.last) {
      this.tokens = Math.min(this.cfg.burst, this.tokens + ((now - this.last) * this.cfg.perMinute) / 60_000);
      this.last = now;
    }
  }

  /** Takes one token; returns 0 when allowed, else the milliseconds until one is available. */
  take(now: number): number {
    this.refill(now);
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 0;
    }
    if (this.cfg.perMinute <= 0) return 60_000;
    return Math.max(1, Math.ceil(((1 - this.tokens) * 60_000) / this.cfg.perMinute));
  }

  /** True when the bucket is back to full (it can be forgotten). */
  isFull(now: number): boolean {
    this.refill(now);
    return this.tokens >= this.cfg.burst;
  }
}

/** All buckets of one device on this gateway. */
export class DeviceLimiter {
  private readonly buckets = new Map<RateClass, TokenBucket>();

  constructor(private readonly cfg: RateConfig) {}

  /** 0 when allowed, else retryAfterMs. */
  take(cls: RateClass, now: number): number {
    let b = this.buckets.get(cls);
    if (!b) this.buckets.set(cls, (b = new TokenBucket(this.cfg[cls], now)));
    return b.take(now);
  }

  idle(now: number): boolean {
    for (const b of this.buckets.values()) if (!b.isFull(now)) return false;
    return true;
  }
}

/** Sliding-minute counter of bad frames (protocol.md §3: more than 20 in a minute → close 1008). */
export class BadFrameCounter {
  private stamps: number[] = [];

  constructor(private readonly max: number) {}

  /** Records one bad frame; true when the limit is now exceeded. */
  record(now: number): boolean {
    const cutoff = now - 60_000;
    this.stamps = this.stamps.filter((t) => t > cutoff);
    this.stamps.push(now);
    return this.stamps.length > this.max;
  }
}
