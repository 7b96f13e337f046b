import { applyAcks, normalize, MAX_PENDING_ACKS } from './cursor.js';

describe('cursor', () => {
  it('advances to the highest contiguous ack', () => {
    const r = applyAcks({ acked: 0n, pending: [] }, [1n, 2n, 3n]);
    expect(r.acked).toBe(3n);
    expect(r.pending).toEqual([]);
    expect(r.newlyAcked).toEqual([1n, 2n, 3n]);
  });

  it('remembers acks beyond a gap and jumps once the gap fills', () => {
    let r = applyAcks({ acked: 0n, pending: [] }, [1n, 3n, 5n]);
    expect(r.acked).toBe(1n);
    expect(r.pending).toEqual([3n, 5n]);
    r = applyAcks({ acked: r.acked, pending: r.pending }, [2n]);
    expect(r.acked).toBe(3n);
    expect(r.pending).toEqual([5n]);
    expect(r.absorbed).toEqual([3n]);
    r = applyAcks({ acked: r.acked, pending: r.pending }, [4n]);
    expect(r.acked).toBe(5n);
    expect(r.pending).toEqual([]);
    expect(r.newlyAcked).toEqual([4n]);
  });

  it('ignores repeated and old acks', () => {
    const r = applyAcks({ acked: 5n, pending: [8n] }, [3n, 5n, 8n]);
    expect(r.acked).toBe(5n);
    expect(r.newlyAcked).toEqual([]);
    expect(r.pending).toEqual([8n]);
  });

  it('starts from a floor (joined_seq - 1)', () => {
    const r = applyAcks({ acked: 0n, pending: [] }, [11n], 10n);
    expect(r.acked).toBe(11n);
  });

  it('normalize extends a lagging stored cursor with its pending run', () => {
    expect(normalize({ acked: 2n, pending: [6n, 3n, 4n, 3n] })).toEqual({ acked: 4n, pending: [6n] });
  });

  it('caps out-of-order acks but never drops contiguous ones', () => {
    const many = Array.from({ length: MAX_PENDING_ACKS + 50 }, (_, i) => BigInt(i + 10));
    const r = applyAcks({ acked: 0n, pending: [] }, [...many, 1n]);
    expect(r.acked).toBe(1n);
    expect(r.pending).toHaveLength(MAX_PENDING_ACKS);
  });
});
