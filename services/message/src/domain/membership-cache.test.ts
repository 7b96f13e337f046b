import { MembershipCache } from './membership-cache.js';

const row = (userId: string, pending = false) => ({ userId, joinedSeq: 1n, leftSeq: 0n, pending });

describe('MembershipCache (one policy for the authorizer and the fan-out router)', () => {
  it('serves a snapshot for ttlMs after it was read, then no more', () => {
    let t = 1000;
    const cache = new MembershipCache({ ttlMs: 100, now: () => t });
    cache.put('c', [row('a'), row('b')], 7n);
    expect(cache.get('c')).toMatchObject({ asOf: 7n, fetchedAt: 1000 });
    expect(cache.get('c')!.byUser.get('b')).toEqual(row('b'));
    t = 1099;
    expect(cache.get('c')).toBeDefined();
    t = 1100;
    expect(cache.get('c')).toBeUndefined();
  });

  it('never stores a snapshot with a pending row, and drops the one it had', () => {
    const cache = new MembershipCache({ ttlMs: 1000 });
    cache.put('c', [row('a')], 1n);
    const snap = cache.put('c', [row('a'), row('p', true)], 2n);
    expect(snap.byUser.has('p')).toBe(true);
    expect(cache.get('c')).toBeUndefined();
  });

  it('keeps at most maxChats chats, the least recently used dropped first', () => {
    const cache = new MembershipCache({ ttlMs: 1000, maxChats: 2 });
    cache.put('x', [row('a')], 1n);
    cache.put('y', [row('a')], 1n);
    cache.get('x');
    cache.put('z', [row('a')], 1n);
    expect(cache.get('y')).toBeUndefined();
    expect(cache.get('x')).toBeDefined();
    expect(cache.get('z')).toBeDefined();
  });

  it('invalidate drops the chat', () => {
    const cache = new MembershipCache({ ttlMs: 1000 });
    cache.put('c', [row('a')], 1n);
    cache.invalidate('c');
    expect(cache.get('c')).toBeUndefined();
  });
});
