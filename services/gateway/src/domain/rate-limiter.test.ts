import { BadFrameCounter, DeviceLimiter, TokenBucket } from './rate-limiter.js';

describe('TokenBucket', () => {
  it('allows the burst, then refuses with the time until the next token', () => {
    const b = new TokenBucket({ perMinute: 60, burst: 20 }, 0);
    for (let i = 0; i < 20; i++) expect(b.take(0)).toBe(0);
    expect(b.take(0)).toBe(1000);
    expect(b.take(500)).toBe(500);
    expect(b.take(1000)).toBe(0);
    expect(b.take(1000)).toBe(1000);
  });

  it('refills to the burst, never beyond', () => {
    const b = new TokenBucket({ perMinute: 60, burst: 2 }, 0);
    b.take(0);
    b.take(0);
    expect(b.isFull(600_000)).toBe(true);
    expect(b.take(600_000)).toBe(0);
    expect(b.take(600_000)).toBe(0);
    expect(b.take(600_000)).toBeGreaterThan(0);
  });
});

describe('DeviceLimiter', () => {
  it('keeps classes independent', () => {
    const l = new DeviceLimiter({
      send: { perMinute: 60, burst: 1 },
      typing: { perMinute: 60, burst: 1 },
      mutate: { perMinute: 60, burst: 1 },
      read: { perMinute: 60, burst: 1 },
      ack: { perMinute: 60, burst: 1 },
      misc: { perMinute: 60, burst: 1 },
    });
    expect(l.take('send', 0)).toBe(0);
    expect(l.take('send', 0)).toBeGreaterThan(0);
    expect(l.take('read', 0)).toBe(0);
    expect(l.idle(0)).toBe(false);
    expect(l.idle(10_000)).toBe(true);
  });
});

describe('BadFrameCounter', () => {
  it('trips on the 21st bad frame within a minute, not on 20 spread out', () => {
    const c = new BadFrameCounter(20);
    for (let i = 0; i < 20; i++) expect(c.record(i)).toBe(false);
    expect(c.record(20)).toBe(true);
    const d = new BadFrameCounter(20);
    for (let i = 0; i < 40; i++) expect(d.record(i * 4000)).toBe(false);
  });
});
