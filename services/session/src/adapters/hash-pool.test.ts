import { ParleyError, createLogger } from '@parley/kit';
import { HashPool } from './hash-pool.js';
import { verifyPassword } from '../domain/passwords.js';

const logger = createLogger('hash-pool-test', 'silent');

describe('HashPool', () => {
  it('hashes in worker threads in the format passwords.ts verifies, and verifies', async () => {
    const pool = new HashPool({ params: { N: 1024, r: 8, p: 1 }, workers: 2, maxWaitMs: 10_000, logger });
    try {
      const h = await pool.hash('correct horse');
      expect(h).toMatch(/^scrypt\$1024\$8\$1\$/);
      expect(await verifyPassword('correct horse', h)).toBe(true);
      expect(await pool.verify('correct horse', h)).toBe(true);
      expect(await pool.verify('wrong horse', h)).toBe(false);
      expect(await pool.verify('x', 'not a hash')).toBe(false);
    } finally {
      await pool.close();
    }
  }, 30_000);

  it('refuses what would not be done within maxWaitMs with rate_limited + retryAfterMs; what it accepts completes', async () => {
    const seen: string[] = [];
    const pool = new HashPool({ params: { N: 4096, r: 8, p: 1 }, workers: 1, maxWaitMs: 300, logger, observe: (o) => seen.push(o) });
    try {
      const results = await Promise.allSettled(Array.from({ length: 40 }, () => pool.hash('pw-12345678')));
      const ok = results.filter((r) => r.status === 'fulfilled');
      const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(ok.length).toBeGreaterThan(0);
      expect(refused.length).toBeGreaterThan(0);
      for (const r of refused) {
        expect(r.reason).toBeInstanceOf(ParleyError);
        expect((r.reason as ParleyError).code).toBe('rate_limited');
        expect((r.reason as ParleyError).retryAfterMs).toBeGreaterThan(0);
      }
      expect(seen.filter((s) => s === 'ran').length).toBe(ok.length);
      // Once drained, it accepts again.
      expect(pool.queued).toBe(0);
      await expect(pool.hash('again-12345')).resolves.toMatch(/^scrypt\$/);
    } finally {
      await pool.close();
    }
  }, 60_000);
});

describe('HashPool on a machine slower than its bound', () => {
  it('an idle worker always takes a job, so the pool never refuses everything', async () => {
    const pool = new HashPool({ params: { N: 4096, r: 8, p: 1 }, workers: 1, maxWaitMs: 1, logger });
    try {
      for (let i = 0; i < 3; i++) await expect(pool.hash('pw-12345678')).resolves.toMatch(/^scrypt\$/);
    } finally {
      await pool.close();
    }
  }, 30_000);
});
