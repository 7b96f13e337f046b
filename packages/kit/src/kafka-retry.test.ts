import { retryRetriable } from './kafka.js';

const retriable = (msg: string) => Object.assign(new Error(msg), { retriable: true });

describe('retryRetriable (start-up steps against brokers that have not settled)', () => {
  it('retries a retriable failure until the step succeeds', async () => {
    let calls = 0;
    const r = await retryRetriable(async () => {
      calls++;
      if (calls < 3) throw retriable('This server does not host this topic-partition');
      return 'subscribed';
    });
    expect(r).toBe('subscribed');
    expect(calls).toBe(3);
  });

  it('rethrows a non-retriable failure at once', async () => {
    let calls = 0;
    await expect(
      retryRetriable(async () => {
        calls++;
        throw new Error('bad config');
      }),
    ).rejects.toThrow('bad config');
    expect(calls).toBe(1);
  });

  it('gives up after its deadline with the last error', async () => {
    const t0 = Date.now();
    await expect(retryRetriable(async () => Promise.reject(retriable('still unknown')), { timeoutMs: 300 })).rejects.toThrow('still unknown');
    expect(Date.now() - t0).toBeLessThan(3000);
  });
});
