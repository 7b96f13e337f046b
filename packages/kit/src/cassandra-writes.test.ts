// The group-commit logic of WriteCombiner over a recording stand-in for the driver's execute/batch (the
// real Cassandra paths are covered by the message service's storage, leases and e2e suites).
import type cassandra from 'cassandra-driver';
import { chunkBySize, WriteCombiner, type CqlWrite } from './cassandra-writes.js';

function fakeClient(o: { failIf?: (q: CqlWrite[]) => boolean } = {}) {
  const requests: CqlWrite[][] = [];
  const gates: Array<() => void> = [];
  const run = (qs: CqlWrite[]) =>
    new Promise<void>((resolve, reject) => {
      requests.push(qs);
      gates.push(() => (o.failIf?.(qs) ? reject(new Error('refused')) : resolve()));
    });
  const client = {
    execute: (query: string, params: unknown[]) => run([{ query, params }]),
    batch: (qs: CqlWrite[]) => run(qs),
  } as unknown as cassandra.Client;
  const release = async () => {
    while (gates.length) gates.shift()!();
    await new Promise((r) => setImmediate(r));
  };
  return { client, requests, release };
}

const w = (id: string): CqlWrite => ({ query: 'UPDATE t SET v = ? WHERE k = ?', params: [1, id] });

describe('WriteCombiner', () => {
  it('sends a lone write at once, and what arrives meanwhile together', async () => {
    const f = fakeClient();
    const flushes: number[] = [];
    const c = new WriteCombiner(f.client, { maxInFlight: 1, onFlush: (writers) => flushes.push(writers) });
    const a = c.write([w('a')]);
    expect(f.requests).toHaveLength(1); // no waiting under light load
    const rest = ['b', 'c', 'd'].map((k) => c.write([w(k), w(`${k}2`)]));
    expect(f.requests).toHaveLength(1); // one request in flight: the others wait
    await f.release();
    await a;
    expect(f.requests).toHaveLength(2);
    expect(f.requests[1]!.map((q) => q.params[1])).toEqual(['b', 'b2', 'c', 'c2', 'd', 'd2']);
    await f.release();
    await Promise.all(rest);
    expect(flushes).toEqual([1, 3]);
  });

  it('splits a shared flush by statements and size', async () => {
    const f = fakeClient();
    const c = new WriteCombiner(f.client, { maxInFlight: 1, maxStatements: 4 });
    const first = c.write([w('x')]);
    const many = Array.from({ length: 10 }, (_, i) => c.write([w(`k${i}`)]));
    await f.release();
    await first;
    expect(f.requests.slice(1).map((r) => r.length)).toEqual([4, 4, 2]);
    await f.release();
    await Promise.all(many);
    const big = { query: 'INSERT', params: [Buffer.alloc(30 * 1024)] };
    expect(chunkBySize([big, big, w('s')]).map((ch) => ch.length)).toEqual([1, 2]);
  });

  it('fails only the writer whose statement is refused when a shared request fails', async () => {
    const f = fakeClient({ failIf: (qs) => qs.some((q) => q.params[1] === 'bad') });
    const c = new WriteCombiner(f.client, { maxInFlight: 1 });
    const first = c.write([w('x')]);
    const good = c.write([w('g')]);
    const bad = c.write([w('bad')]).then(() => 'ok', (e: Error) => e.message);
    const good2 = c.write([w('h')]);
    await f.release(); // x
    await first;
    await f.release(); // the shared request [g, bad, h] fails → each alone
    await f.release();
    await expect(good).resolves.toBeUndefined();
    await expect(good2).resolves.toBeUndefined();
    expect(await bad).toBe('refused');
    expect(f.requests.map((r) => r.map((q) => q.params[1]).join(','))).toEqual(['x', 'g,bad,h', 'g', 'bad', 'h']);
  });

  it('keeps at most maxInFlight requests outstanding', async () => {
    const f = fakeClient();
    const c = new WriteCombiner(f.client, { maxInFlight: 2 });
    const all = ['a', 'b', 'c', 'd'].map((k) => c.write([w(k)]));
    expect(f.requests.map((r) => r.length)).toEqual([1, 1]);
    await f.release();
    expect(f.requests.map((r) => r.length)).toEqual([1, 1, 2]);
    await f.release();
    await Promise.all(all);
  });
});
