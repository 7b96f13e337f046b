import { GapFiller, SeqGaps, type HistoryFetch } from './gaps.js';
import type { Message } from './types.js';

const msg = (chatId: string, seq: number): Message => ({ chatId, seq, messageId: `m${seq}` }) as unknown as Message;
const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('SeqGaps', () => {
  it('starts at the first seq seen and reports what is missing below the highest', () => {
    const g = new SeqGaps();
    g.held('c', 5);
    expect(g.missing('c')).toEqual([]);
    g.held('c', 6);
    g.held('c', 9);
    g.held('c', 12);
    expect(g.missing('c')).toEqual([
      [7, 8],
      [10, 11],
    ]);
    expect(g.contiguousUpTo('c')).toBe(6);
    g.held('c', 7);
    g.held('c', 8);
    expect(g.contiguousUpTo('c')).toBe(9);
    expect(g.missing('c')).toEqual([[10, 11]]);
    expect(g.chatsWithGaps()).toEqual(['c']);
  });

  it('holdUpTo closes everything below it and is monotonic', () => {
    const g = new SeqGaps();
    g.holdUpTo('c', 3);
    g.held('c', 6);
    expect(g.missing('c')).toEqual([[4, 5]]);
    g.holdUpTo('c', 5);
    expect(g.missing('c')).toEqual([]);
    expect(g.contiguousUpTo('c')).toBe(6);
    g.holdUpTo('c', 2);
    expect(g.contiguousUpTo('c')).toBe(6);
    g.held('c', 4); // an old seq changes nothing
    expect(g.missing('c')).toEqual([]);
  });

  it('keeps chats apart', () => {
    const g = new SeqGaps();
    g.held('a', 1);
    g.held('a', 3);
    g.held('b', 1);
    g.held('b', 2);
    expect(g.missing('a')).toEqual([[2, 2]]);
    expect(g.missing('b')).toEqual([]);
    expect(g.chatsWithGaps()).toEqual(['a']);
  });
});

describe('GapFiller', () => {
  function setup(log: Message[], opts = { graceMs: 20 }) {
    const calls: Array<[string, number, number]> = [];
    const fetch: HistoryFetch = async (chatId, afterSeq, limit) => {
      calls.push([chatId, afterSeq, limit]);
      const messages = log.filter((m) => m.chatId === chatId && m.seq > afterSeq).slice(0, limit);
      return { messages, hasMore: false };
    };
    const recovered: number[] = [];
    const f = new GapFiller(fetch, (ms) => recovered.push(...ms.map((m) => m.seq)), opts);
    return { f, calls, recovered };
  }
  const log = Array.from({ length: 20 }, (_, i) => msg('c', i + 1));

  it('fetches a gap after the grace and hands the missing messages over', async () => {
    const { f, calls, recovered } = setup(log);
    f.received(msg('c', 1));
    f.received(msg('c', 4));
    expect(calls).toEqual([]); // within the grace: 2 and 3 may just be behind
    await tick(60);
    expect(calls).toEqual([['c', 1, 2]]);
    expect(recovered).toEqual([2, 3]);
    expect(f.seqs.missing('c')).toEqual([]);
    expect(f.stats).toMatchObject({ gaps: 1, fetches: 1, recovered: 2, givenUp: 0 });
    f.close();
  });

  it('hands over only the missing seqs when one fetch spans several gaps', async () => {
    const { f, calls, recovered } = setup(log);
    for (const s of [1, 2, 5, 6, 8]) f.received(msg('c', s));
    await tick(60);
    expect(calls).toEqual([['c', 2, 5]]);
    expect(recovered).toEqual([3, 4, 7]);
    f.close();
  });

  it('does not fetch what arrived late within the grace, nor the device\'s own sends', async () => {
    const { f, calls } = setup(log);
    f.received(msg('c', 1));
    f.received(msg('c', 3));
    f.sent('c', 2);
    f.received(msg('c', 5));
    f.received(msg('c', 4));
    await tick(60);
    expect(calls).toEqual([]);
    f.close();
  });

  it('waits for inbox.drained while a backlog pass interleaves with live deliveries', async () => {
    const { f, calls, recovered } = setup(log);
    f.received(msg('c', 1));
    f.connecting();
    f.received(msg('c', 9)); // live, ahead of the backlog
    f.received(msg('c', 2)); // backlog
    await tick(60);
    expect(calls).toEqual([]);
    f.drained(); // 3..8 never came: chase them now
    await tick(60);
    expect(recovered).toEqual([3, 4, 5, 6, 7, 8]);
    f.close();
  });

  it('gives a range up when history has nothing there for the device, and does not loop', async () => {
    const { f, calls } = setup([msg('c', 1), msg('c', 7)]);
    f.received(msg('c', 1));
    f.received(msg('c', 7));
    await tick(60);
    // asked for 2..6, history answered from 7 on: nothing in the range, so it is given up after one fetch
    expect(calls).toEqual([['c', 1, 5]]);
    expect(f.seqs.missing('c')).toEqual([]);
    expect(f.stats.givenUp).toBe(1);
    f.close();
  });

  it('a failed fetch is retried on the next delivery', async () => {
    let fail = true;
    const calls: number[] = [];
    const f = new GapFiller(
      async (chatId, afterSeq, limit) => {
        calls.push(afterSeq);
        if (fail) throw new Error('closed');
        return { messages: log.filter((m) => m.seq > afterSeq).slice(0, limit), hasMore: false };
      },
      () => undefined,
      { graceMs: 10 },
    );
    f.received(msg('c', 1));
    f.received(msg('c', 3));
    await tick(40);
    expect(calls).toEqual([1]);
    fail = false;
    f.received(msg('c', 4));
    await tick(40);
    expect(calls).toEqual([1, 1]);
    expect(f.seqs.missing('c')).toEqual([]);
    f.close();
  });
});
