import { chunkBySize } from './messages-store.js';

const q = (bytes: number) => ({ query: 'INSERT …', params: ['chat', Buffer.alloc(bytes)] });

describe('chunkBySize (Cassandra refuses batches above 50 KiB)', () => {
  it('keeps small statements in one request', () => {
    expect(chunkBySize([q(100), q(200), q(300)]).map((c) => c.length)).toEqual([3]);
  });

  it('splits at the limit, a row bigger than it going alone, order kept', () => {
    const rows = [q(20_000), q(20_000), q(64 * 1024), q(10), q(10)];
    const chunks = chunkBySize(rows);
    expect(chunks.map((c) => c.length)).toEqual([1, 1, 1, 2]);
    expect(chunks.flat()).toEqual(rows);
  });
});
