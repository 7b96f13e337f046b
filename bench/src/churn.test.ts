import { churnProblem, chunks, dueAt, matchUser, missing, newTally, watchedBy, type Transition } from './churn.js';

const cycle = (on: number, ready: number, off: number): Transition[] => [
  { status: 'online', at: on, ready },
  { status: 'offline', at: off },
];

describe('matchUser', () => {
  const ts = [...cycle(1000, 1050, 2000), ...cycle(5000, 5040, 6000)];

  it('matches each event to its transition and measures from the action', () => {
    const t = matchUser(ts, [
      { status: 'online', at: 1100 },
      { status: 'offline', at: 2300 },
      { status: 'online', at: 5200 },
      { status: 'offline', at: 6010 },
    ], newTally());
    expect(t).toMatchObject({ expected: 4, matched: 4, duplicate: 0, unexpected: 0 });
    expect(missing(t)).toBe(0);
    expect(t.online).toEqual([100, 200]);
    expect(t.onlineReady).toEqual([50, 160]);
    expect(t.offline).toEqual([300, 10]);
  });

  it('an online event may overtake session.ready (negative), never the connect call', () => {
    const t = matchUser(cycle(1000, 1050, 2000), [{ status: 'online', at: 1020 }, { status: 'offline', at: 2100 }], newTally());
    expect(t.onlineReady).toEqual([-30]);
    expect(t.online).toEqual([20]);
    // an event "before" the connect was called is no match for it
    const u = matchUser(cycle(1000, 1050, 2000), [{ status: 'online', at: 900 }], newTally());
    expect(u).toMatchObject({ matched: 0, unexpected: 1 });
    expect(missing(u)).toBe(2);
  });

  it('counts a repeated status as a duplicate, not as the next cycle', () => {
    const t = matchUser(ts, [
      { status: 'online', at: 1100 },
      { status: 'online', at: 1200 }, // duplicate: the next online (5000) has not happened
      { status: 'offline', at: 2100 },
      { status: 'offline', at: 2200 }, // duplicate
      { status: 'online', at: 5100 },
      { status: 'offline', at: 6100 },
    ], newTally());
    expect(t).toMatchObject({ expected: 4, matched: 4, duplicate: 2, unexpected: 0 });
    expect(t.online).toEqual([100, 100]);
  });

  it('reports each anomaly with the transition that happened last before it', () => {
    const seen: [string, string, number | undefined][] = [];
    // a closed connection re-appearing: an online after the close, then a second offline much later
    const t = matchUser(cycle(1000, 1050, 2000), [
      { status: 'online', at: 1100 },
      { status: 'offline', at: 2100 },
      { status: 'online', at: 3000 },
      { status: 'offline', at: 32000 },
    ], newTally(), (kind, e, before) => seen.push([kind, e.status, before && e.at - before.at]));
    expect(t).toMatchObject({ matched: 2, duplicate: 1, unexpected: 1 });
    expect(seen).toEqual([
      ['unexpected', 'online', 1000],
      ['duplicate', 'offline', 30000],
    ]);
  });

  it('a lost event leaves its transition missing and the next ones still match', () => {
    const t = matchUser(ts, [
      { status: 'online', at: 1100 },
      // offline of cycle 0 lost
      { status: 'online', at: 5100 },
      { status: 'offline', at: 6100 },
    ], newTally());
    expect(t).toMatchObject({ expected: 4, matched: 3, duplicate: 0, unexpected: 0 });
    expect(missing(t)).toBe(1);
    expect(t.offline).toEqual([100]);
    const none = matchUser(ts, [], newTally());
    expect(missing(none)).toBe(4);
  });

  it('an event for a user that made no transition is unexpected', () => {
    const t = matchUser([], [{ status: 'offline', at: 10 }], newTally());
    expect(t).toMatchObject({ expected: 0, matched: 0, unexpected: 1 });
  });

  it('accumulates over users', () => {
    const t = newTally();
    matchUser(cycle(0, 1, 10), [{ status: 'online', at: 5 }], t);
    matchUser(cycle(0, 1, 10), [{ status: 'online', at: 7 }, { status: 'offline', at: 12 }], t);
    expect(t).toMatchObject({ expected: 4, matched: 3 });
    expect(t.online).toEqual([5, 7]);
  });
});

describe('schedule and shares', () => {
  it('paces connects at the rate, one device per slot, cycles n / rate apart', () => {
    expect(dueAt(0, 100, 10_000, 0, 0)).toBe(0);
    expect(dueAt(0, 100, 10_000, 1, 0)).toBe(10);
    expect(dueAt(0, 100, 10_000, 5, 1) - dueAt(0, 100, 10_000, 5, 0)).toBe(100_000);
  });

  it('refuses a churn whose reconnects fall inside the grace window', () => {
    expect(churnProblem({ n: 10, rate: 10, holdMs: 500, graceMs: 2000, cycles: 2 })).toMatch(/grace/);
    expect(churnProblem({ n: 10_000, rate: 100, holdMs: 500, graceMs: 2000, cycles: 3 })).toBeUndefined();
    expect(churnProblem({ n: 10, rate: 10, holdMs: 500, graceMs: 2000, cycles: 1 })).toBeUndefined();
    expect(churnProblem({ n: 0, rate: 10, holdMs: 0, graceMs: 0, cycles: 1 })).toBeDefined();
  });

  it('gives every device exactly `fanout` subscribers', () => {
    const subs = 7;
    const n = 50;
    for (const fanout of [1, 3]) {
      const count = new Array(n).fill(0);
      for (let s = 0; s < subs; s++) for (const i of watchedBy(s, subs, n, fanout)) count[i] += 1;
      expect(count.every((c) => c === fanout)).toBe(true);
    }
  });

  it('splits ids in chunks of at most 500', () => {
    const ids = Array.from({ length: 1201 }, (_, i) => i);
    const c = chunks(ids, 500);
    expect(c.map((x) => x.length)).toEqual([500, 500, 201]);
    expect(c.flat()).toEqual(ids);
  });
});

describe('percentiles (stats.ts)', () => {
  it('nearest rank over the samples, unsorted input', async () => {
    const { summarize } = await import('./stats.js');
    const xs = Array.from({ length: 100 }, (_, i) => 100 - i); // 100..1
    const s = summarize(xs);
    expect(s).toMatchObject({ count: 100, p50: 50, p99: 99, max: 100 });
    expect(summarize([7]).p99).toBe(7);
    expect(Number.isNaN(summarize([]).p50)).toBe(true);
  });
});
