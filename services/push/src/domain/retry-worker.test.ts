import { RetryWorker, type StoredRetry } from './retry-worker.js';
import type { DispatchResult } from './dispatcher.js';
import type { Notification, Registration } from './types.js';

const n = (seq: number, createdAt = Date.now()): Notification => ({
  id: `id${seq}`, userId: 'u', deviceId: 'd', chatId: 'c', seq: BigInt(seq), messageId: `m${seq}`, badge: 2, collapseKey: 'k',
  title: 'Alice', body: 'hi', hasPreview: true, createdAt,
});
const retry = (seq: number, notBefore: number, extra: Partial<StoredRetry> = {}): StoredRetry => ({ n: n(seq), platform: 'webhook', token: 'https://old', attempt: 2, notBefore, ...extra });

function worker(o: { reg?: Registration; covered?: bigint } = {}) {
  const calls: Array<{ reg: Registration; n: Notification; attempt: number; overflow: string; at: number }> = [];
  const skipped: string[] = [];
  const results: DispatchResult[] = [];
  const reg: Registration | undefined = 'reg' in o ? o.reg : { userId: 'u', deviceId: 'd', platform: 'webhook', token: 'https://new', updatedAt: 0 };
  const w = new RetryWorker({
    registrations: { get: async () => reg },
    dispatcher: { dispatch: async (r, nn, attempt = 1, overflow = 'defer') => (calls.push({ reg: r, n: nn, attempt, overflow, at: Date.now() }), 'sent') },
    coveredSeq: () => o.covered,
    maxAgeMs: 60_000,
    metrics: { resumed: () => {}, skipped: (r) => skipped.push(r), result: (r) => results.push(r) },
  });
  return { w, calls, skipped, results };
}

describe('RetryWorker', () => {
  it('waits until not-before, then sends the same notification to the current registration with its attempt number', async () => {
    const { w, calls, results } = worker();
    const nb = Date.now() + 150;
    await w.handle(retry(5, nb));
    expect(calls).toHaveLength(1);
    expect(calls[0]!.at).toBeGreaterThanOrEqual(nb - 2);
    expect(calls[0]).toMatchObject({ attempt: 2, overflow: 'wait', reg: { token: 'https://new' }, n: { id: 'id5', seq: 5n, badge: 2, body: 'hi' } });
    expect(results).toEqual(['sent']);
  });
  it('drops a retry superseded by a newer notification, a stale one, and one whose device has no registration', async () => {
    const a = worker({ covered: 7n });
    await a.w.handle(retry(5, 0));
    expect(a.calls).toHaveLength(0);
    expect(a.skipped).toEqual(['superseded']);
    const same = worker({ covered: 5n }); // the open streak's newest is this very notification: send it
    await same.w.handle(retry(5, 0));
    expect(same.calls).toHaveLength(1);
    const b = worker();
    await b.w.handle({ ...retry(5, 0), n: n(5, Date.now() - 120_000) });
    expect(b.skipped).toEqual(['stale']);
    const c = worker({ reg: undefined });
    await c.w.handle(retry(5, 0));
    expect(c.skipped).toEqual(['no_registration']);
    expect(b.calls.length + c.calls.length).toBe(0);
  });
  it('a retry waiting when the worker closes never settles (its record stays uncommitted)', async () => {
    const { w, calls } = worker();
    let settled = false;
    void w.handle(retry(1, Date.now() + 100)).then(() => (settled = true));
    w.close();
    await new Promise((r) => setTimeout(r, 200));
    expect(settled).toBe(false);
    expect(calls).toHaveLength(0);
  });
});
