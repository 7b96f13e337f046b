import { BatchedLookup, GroupCommit, batchedWithFallback, type Pending } from './group-commit.js';
import { GrpcStatus, ParleyError } from './errors.js';

function deferred<T = void>() {
  let resolve!: (v: T) => void;
  const p = new Promise<T>((r) => (resolve = r));
  return { p, resolve };
}
const tick = () => new Promise((r) => setImmediate(r));

describe('GroupCommit', () => {
  it('sends the first request at once and everything that queued meanwhile in the next call', async () => {
    const calls: number[][] = [];
    const gates: Array<ReturnType<typeof deferred>> = [];
    const gc = new GroupCommit<number, number>(async (items) => {
      calls.push(items.map((i) => i.req));
      const g = deferred();
      gates.push(g);
      await g.p;
      for (const it of items) it.resolve(it.req * 10);
    });
    const first = gc.enqueue(1);
    const rest = [2, 3, 4].map((n) => gc.enqueue(n));
    await tick();
    expect(calls).toEqual([[1]]);
    expect(gc.queued).toBe(3);
    gates[0]!.resolve();
    expect(await first).toBe(10);
    await tick();
    expect(calls).toEqual([[1], [2, 3, 4]]);
    gates[1]!.resolve();
    expect(await Promise.all(rest)).toEqual([20, 30, 40]);
  });

  it('never answers a request from a call that started before it arrived', async () => {
    let reads = 0;
    let value = 'old';
    const gate = deferred();
    const gc = new GroupCommit<string, string>(async (items) => {
      const seen = value;
      reads++;
      if (reads === 1) await gate.p;
      for (const it of items) it.resolve(seen);
    });
    const a = gc.enqueue('a');
    await tick();
    value = 'new'; // a write that finished while the first read was under way
    const b = gc.enqueue('b');
    gate.resolve();
    expect(await a).toBe('old');
    expect(await b).toBe('new');
    expect(reads).toBe(2);
  });

  it('caps a batch by weight (a lone heavy request still goes) and runs up to maxInFlight calls', async () => {
    const calls: number[][] = [];
    let open = 0;
    let maxOpen = 0;
    const gc = new GroupCommit<number, void>(
      async (items) => {
        calls.push(items.map((i) => i.req));
        open++;
        maxOpen = Math.max(maxOpen, open);
        await tick();
        open--;
        for (const it of items) it.resolve();
      },
      { maxBatch: 5, weight: (n) => n, maxInFlight: 2, gatherTurn: true },
    );
    await Promise.all([2, 2, 2, 9, 1].map((n) => gc.enqueue(n)));
    expect(calls).toEqual([[2, 2], [2], [9], [1]]);
    expect(maxOpen).toBe(2);
  });

  it('rejects the whole batch when the call throws, and what the call left unsettled', async () => {
    const gc = new GroupCommit<number, number>(async (items: Array<Pending<number, number>>) => {
      if (items.some((i) => i.req === 0)) throw new Error('boom');
      items[0]!.resolve(1);
    }, { gatherTurn: true });
    await expect(Promise.all([gc.enqueue(0), gc.enqueue(5)])).rejects.toThrow('boom');
    const [a, b] = await Promise.allSettled([gc.enqueue(1), gc.enqueue(2)]);
    expect(a).toEqual({ status: 'fulfilled', value: 1 });
    expect(b.status).toBe('rejected');
    expect(String((b as PromiseRejectedResult).reason)).toMatch(/unsettled/);
  });

  it('lets the next call start when the current one releases', async () => {
    const gate = deferred();
    const started: number[] = [];
    const gc = new GroupCommit<number, number>(async (items, release) => {
      started.push(items[0]!.req);
      if (items[0]!.req === 1) {
        release();
        await gate.p;
      }
      for (const it of items) it.resolve(it.req);
    });
    const a = gc.enqueue(1);
    const b = gc.enqueue(2);
    expect(await b).toBe(2);
    expect(started).toEqual([1, 2]);
    gate.resolve();
    expect(await a).toBe(1);
  });
});

describe('BatchedLookup', () => {
  it('looks up the union of concurrent keys once each and answers every caller with its own keys', async () => {
    const lookups: string[][] = [];
    const l = new BatchedLookup<string, number>(async (keys) => {
      lookups.push(keys);
      await tick();
      return new Map(keys.filter((k) => k !== 'missing').map((k) => [k, k.length]));
    });
    const first = l.get('a');
    const [x, y, z] = await Promise.all([l.getMany(['bb', 'ccc']), l.getMany(['ccc', 'missing']), l.get('dddd')]);
    expect(await first).toBe(1);
    expect(lookups).toEqual([['a'], ['bb', 'ccc', 'missing', 'dddd']]);
    expect([...x]).toEqual([['bb', 2], ['ccc', 3]]);
    expect([...y]).toEqual([['ccc', 3]]);
    expect(z).toBe(4);
    expect(await l.getMany([])).toEqual(new Map());
  });

  it('rejects every caller of a failed lookup, and the next lookup runs', async () => {
    let fail = true;
    const l = new BatchedLookup<string, string>(async (keys) => {
      if (fail) throw new Error('store down');
      return new Map(keys.map((k) => [k, k]));
    });
    await expect(l.get('a')).rejects.toThrow('store down');
    fail = false;
    expect(await l.get('b')).toBe('b');
  });
});

describe('batchedWithFallback', () => {
  it('answers each request with its own error from the batched call', async () => {
    const calls: string[][] = [];
    const gc = batchedWithFallback<string>(
      async (reqs) => {
        calls.push(reqs);
        return reqs.map((r) => (r === 'bad' ? new ParleyError('unauthorized', 'removed') : undefined));
      },
      async () => {
        throw new Error('the unary call is not used while the batched one works');
      },
      { gatherTurn: true },
    );
    const got = await Promise.allSettled(['a', 'bad', 'c'].map((r) => gc.enqueue(r)));
    expect(calls).toEqual([['a', 'bad', 'c']]);
    expect(got.map((g) => g.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
  });

  it('falls back to the unary call per request when the peer lacks the batched one, and fails the batch on other errors', async () => {
    const singles: string[] = [];
    let mode: 'unimplemented' | 'down' = 'unimplemented';
    const gc = batchedWithFallback<string>(
      async () => {
        if (mode === 'unimplemented') throw new ParleyError('unavailable', 'this operation is not available yet', { cause: { code: GrpcStatus.UNIMPLEMENTED } });
        throw new ParleyError('unavailable', 'upstream service unavailable, retry', { cause: { code: GrpcStatus.UNAVAILABLE } });
      },
      async (r) => {
        singles.push(r);
        if (r === 'bad') throw new ParleyError('unauthorized', 'removed');
      },
      { gatherTurn: true },
    );
    const got = await Promise.allSettled(['a', 'bad'].map((r) => gc.enqueue(r)));
    expect(singles.sort()).toEqual(['a', 'bad']);
    expect(got.map((g) => g.status)).toEqual(['fulfilled', 'rejected']);
    mode = 'down';
    await expect(gc.enqueue('x')).rejects.toThrow('upstream service unavailable');
    expect(singles).toHaveLength(2);
  });
});
