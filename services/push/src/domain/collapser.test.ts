import { Collapser } from './collapser.js';

const item = (seq: number, chatId = 'c') => ({ deviceId: 'd', chatId, seq: BigInt(seq) });

describe('Collapser', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('notifies the first message at once, holds the burst into one notification per window with the badge', async () => {
    const sent: Array<[number, number]> = [];
    const c = new Collapser<ReturnType<typeof item>>(1000, async (i, badge) => void sent.push([Number(i.seq), badge]));
    const done: number[] = [];
    const ps = [1, 2, 3, 4].map((s) => c.submit(item(s)).then(() => done.push(s)));
    await Promise.resolve();
    expect(sent).toEqual([[1, 1]]);
    await jest.advanceTimersByTimeAsync(999);
    expect(sent).toEqual([[1, 1]]);
    expect(done).toEqual([1]);
    await jest.advanceTimersByTimeAsync(1);
    expect(sent).toEqual([[1, 1], [4, 4]]);
    await Promise.all(ps);
    expect(done.sort()).toEqual([1, 2, 3, 4]);
    // The next window is open: one more message waits for it.
    void c.submit(item(5));
    await jest.advanceTimersByTimeAsync(500);
    expect(sent).toHaveLength(2);
    await jest.advanceTimersByTimeAsync(500);
    expect(sent[2]).toEqual([5, 5]);
    // A quiet window ends the streak: the badge starts again.
    await jest.advanceTimersByTimeAsync(1000);
    expect(c.size).toBe(0);
    await c.submit(item(6));
    expect(sent[3]).toEqual([6, 1]);
  });

  it('chats are independent; redelivered messages are not counted again', async () => {
    const sent: string[] = [];
    const c = new Collapser<ReturnType<typeof item>>(1000, async (i, b) => void sent.push(`${i.chatId}:${i.seq}:${b}`));
    await c.submit(item(1, 'a'));
    await c.submit(item(1, 'b'));
    await c.submit(item(1, 'a')); // redelivery of a covered message
    expect(sent).toEqual(['a:1:1', 'b:1:1']);
  });

  it('a failed notification fails every message it covers', async () => {
    let fail = false;
    const c = new Collapser<ReturnType<typeof item>>(100, async () => {
      if (fail) throw new Error('boom');
    });
    await c.submit(item(1));
    fail = true;
    const p = c.submit(item(2));
    const q = c.submit(item(3));
    const r = Promise.allSettled([p, q]);
    await jest.advanceTimersByTimeAsync(100);
    expect((await r).map((x) => x.status)).toEqual(['rejected', 'rejected']);
  });

  it('window 0 sends every message', async () => {
    const sent: number[] = [];
    const c = new Collapser<ReturnType<typeof item>>(0, async (i) => void sent.push(Number(i.seq)));
    await Promise.all([c.submit(item(1)), c.submit(item(2))]);
    expect(sent).toEqual([1, 2]);
  });
  it('a redelivered request after its streak ended is not notified again (remembered for a while, bounded)', async () => {
    const sent: number[] = [];
    let dups = 0;
    const c = new Collapser<ReturnType<typeof item>>(100, async (i) => void sent.push(Number(i.seq)), { onDuplicate: () => (dups += 1), memoryMs: 60_000, memoryMax: 2 });
    await c.submit(item(1));
    const p2 = c.submit(item(2));
    await jest.advanceTimersByTimeAsync(100);
    await p2;
    await jest.advanceTimersByTimeAsync(100); // quiet window: streak ended
    expect(c.size).toBe(0);
    expect(c.coveredSeq('d', 'c')).toBe(2n);
    await c.submit(item(1));
    await c.submit(item(2));
    expect(sent).toEqual([1, 2]);
    expect(dups).toBe(2);
    await c.submit(item(3)); // newer: a new streak
    expect(sent).toEqual([1, 2, 3]);
    // Bounded: two other chats push the oldest memory out; expired entries are forgotten.
    for (const chat of ['x', 'y']) {
      await c.submit(item(1, chat));
      await jest.advanceTimersByTimeAsync(200);
    }
    await jest.advanceTimersByTimeAsync(200);
    await c.submit(item(1, 'x'));
    expect(sent.filter((s) => s === 1)).toHaveLength(3); // x remembered
    await jest.advanceTimersByTimeAsync(61_000);
    await c.submit(item(1, 'x'));
    expect(sent.filter((s) => s === 1)).toHaveLength(4);
  });
  it('without a window every message is notified once; redeliveries are not', async () => {
    const sent: number[] = [];
    const c = new Collapser<ReturnType<typeof item>>(0, async (i) => void sent.push(Number(i.seq)));
    for (const s of [1, 2, 2, 1, 3]) await c.submit(item(s));
    expect(sent).toEqual([1, 2, 3]);
  });
});
