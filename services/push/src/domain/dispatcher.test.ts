import { createLogger } from '@parley/kit';
import { backoffMs, Dispatcher, type DeferredRetry, type DispatchMetrics } from './dispatcher.js';
import type { Notification, ProbeOutcome, Provider, Registration, SendOutcome } from './types.js';

const reg = (platform: Registration['platform'], token = 't'): Registration => ({ userId: 'u', deviceId: 'd', platform, token, updatedAt: 0 });
const n = { id: 'i' } as Notification;
const metrics = (): DispatchMetrics & { log: string[] } => {
  const log: string[] = [];
  return { log, sent: (p) => log.push(`sent:${p}`), failed: (p, r) => log.push(`failed:${p}:${r}`), retried: (p, r) => log.push(`retried:${p}:${r}`), invalidated: (p) => log.push(`dead:${p}`), enabled: (p, on) => log.push(`enabled:${p}:${on}`) };
};
const provider = (name: Provider['name'], outcomes: SendOutcome[]): Provider & { calls: number } => {
  const p = { name, calls: 0, async send() { p.calls += 1; return outcomes.shift() ?? { kind: 'sent' as const }; } };
  return p;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(cond: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await sleep(5);
  }
}

describe('backoff', () => {
  it('grows exponentially with jitter, capped, never sooner than Retry-After', () => {
    expect(backoffMs(1, 100, 10_000, undefined, () => 0)).toBe(50);
    expect(backoffMs(4, 100, 10_000, undefined, () => 1)).toBe(800);
    expect(backoffMs(20, 100, 10_000, undefined, () => 1)).toBe(10_000);
    expect(backoffMs(1, 100, 10_000, 3000, () => 0)).toBe(3000);
  });
});

describe('Dispatcher', () => {
  const opts = (m: DispatchMetrics, dead: Registration[] = []) => ({
    concurrency: 2, maxAttempts: 3, retryBaseMs: 1, retryMaxMs: 5, logger: createLogger('t', 'silent'), metrics: m,
    onDeadToken: async (r: Registration) => void dead.push(r),
  });

  it('retries, then gives up after maxAttempts', async () => {
    const m = metrics();
    const p = provider('webhook', [{ kind: 'retry', reason: 'http_500' }, { kind: 'retry', reason: 'http_500' }, { kind: 'retry', reason: 'http_500' }]);
    expect(await new Dispatcher([p], opts(m)).dispatch(reg('webhook'), n)).toBe('failed');
    expect(p.calls).toBe(3);
    expect(m.log.filter((l) => l.startsWith('retried'))).toHaveLength(2);
  });
  it('dead tokens are deleted; credentials disable only that provider', async () => {
    const m = metrics();
    const dead: Registration[] = [];
    const a = provider('apns', [{ kind: 'credentials', reason: 'InvalidProviderToken' }]);
    const f = provider('fcm', [{ kind: 'dead', reason: 'UNREGISTERED' }]);
    const d = new Dispatcher([a, f], opts(m, dead));
    expect(await d.dispatch(reg('apns'), n)).toBe('disabled');
    expect(await d.dispatch(reg('apns'), n)).toBe('disabled');
    expect(a.calls).toBe(1);
    expect(await d.dispatch(reg('fcm'), n)).toBe('dead');
    expect(dead).toHaveLength(1);
    expect(await d.dispatch(reg('fcm'), n)).toBe('sent');
    expect(d.enabledProviders()).toEqual(['fcm']);
    expect(m.log).toContain('enabled:apns:false');
  });
  it('an unconfigured provider is reported, not sent', async () => {
    expect(await new Dispatcher([], opts(metrics())).dispatch(reg('webpush'), n)).toBe('unconfigured');
  });

  it('with defer, a retry is handed over (attempt 2, not before Retry-After) and settles as deferred', async () => {
    const m = metrics();
    const p = provider('webhook', [{ kind: 'retry', reason: 'http_429', retryAfterMs: 3000 }]);
    const deferred: DeferredRetry[] = [];
    const d = new Dispatcher([p], { ...opts(m), retryMaxMs: 1000, defer: async (r) => void deferred.push(r) });
    const t0 = Date.now();
    expect(await d.dispatch(reg('webhook'), n)).toBe('deferred');
    expect(p.calls).toBe(1);
    expect(deferred).toHaveLength(1);
    expect(deferred[0]).toMatchObject({ attempt: 2, reason: 'http_429', n: { id: 'i' }, reg: { platform: 'webhook' } });
    expect(deferred[0]!.notBefore).toBeGreaterThanOrEqual(t0 + 3000);
    expect(Number.isInteger(deferred[0]!.notBefore)).toBe(true); // it becomes an int64
    // The deferred attempt comes back with its number: the last allowed attempt gives up instead of deferring.
    const p2 = provider('webhook', [{ kind: 'retry', reason: 'http_500' }]);
    const d2 = new Dispatcher([p2], { ...opts(m), defer: async (r) => void deferred.push(r) });
    expect(await d2.dispatch(reg('webhook'), n, 3)).toBe('failed');
    expect(deferred).toHaveLength(1);
  });
  it('when storing the retry fails it is retried in memory', async () => {
    const p = provider('webhook', [{ kind: 'retry', reason: 'http_503' }]);
    const d = new Dispatcher([p], { ...opts(metrics()), defer: async (r) => { expect(Number.isInteger(r.notBefore)).toBe(true); throw new Error('kafka down'); } });
    expect(await d.dispatch(reg('webhook'), n)).toBe('sent');
    expect(p.calls).toBe(2);
  });
  it('a provider disabled by its credentials is re-probed with backoff and re-enabled when they work', async () => {
    const m = metrics();
    const probes: number[] = [];
    const answers: ProbeOutcome[] = [{ kind: 'credentials', reason: 'invalid_grant' }, { kind: 'unavailable', reason: 'timeout' }, { kind: 'ok' }];
    const p = { ...provider('fcm', [{ kind: 'credentials', reason: 'THIRD_PARTY_AUTH_ERROR' }]), probe: async () => (probes.push(Date.now()), answers.shift()!) };
    const d = new Dispatcher([p], { ...opts(m), reprobeBaseMs: 40, reprobeMaxMs: 200, random: () => 0.5 });
    const t0 = Date.now();
    expect(await d.dispatch(reg('fcm'), n)).toBe('disabled');
    expect(d.enabledProviders()).toEqual([]);
    expect(await d.dispatch(reg('fcm'), n)).toBe('disabled');
    await until(() => d.enabledProviders().length === 1);
    expect(probes).toHaveLength(3);
    // 40 ms, then 80 (credentials refused again), then 160 (inconclusive probes also back off): ≥ 280 ms in all.
    expect(probes[0]! - t0).toBeGreaterThanOrEqual(35);
    expect(probes[1]! - probes[0]!).toBeGreaterThanOrEqual(75);
    expect(probes[2]! - probes[1]!).toBeGreaterThanOrEqual(155);
    expect(m.log.filter((l) => l.startsWith('enabled:fcm'))).toEqual(['enabled:fcm:true', 'enabled:fcm:false', 'enabled:fcm:true']);
    expect(await d.dispatch(reg('fcm'), n)).toBe('sent');
    d.close();
  });
  it('without a probe the provider is half-open after the backoff: the next send decides', async () => {
    const m = metrics();
    const p = provider('apns', [{ kind: 'credentials', reason: 'InvalidProviderToken' }, { kind: 'credentials', reason: 'InvalidProviderToken' }]);
    const d = new Dispatcher([p], { ...opts(m), reprobeBaseMs: 20, reprobeMaxMs: 1000, random: () => 0.5 });
    expect(await d.dispatch(reg('apns'), n)).toBe('disabled');
    await until(() => d.enabledProviders().length === 1);
    expect(await d.dispatch(reg('apns'), n)).toBe('disabled'); // still refused: off again, longer backoff
    expect(d.enabledProviders()).toEqual([]);
    await until(() => d.enabledProviders().length === 1);
    expect(await d.dispatch(reg('apns'), n)).toBe('sent');
    expect(p.calls).toBe(3);
    d.close();
  });
  it('a full lane defers new work from the request path (same attempt) but queues work from the retry path', async () => {
    const release: Array<() => void> = [];
    const slow: Provider = { name: 'webhook', send: () => new Promise((r) => release.push(() => r({ kind: 'sent' }))) };
    const deferred: DeferredRetry[] = [];
    const d = new Dispatcher([slow], { ...opts(metrics()), concurrency: 1, queueLimit: 2, defer: async (r) => void deferred.push(r) });
    const results = [1, 2, 3].map(() => d.dispatch(reg('webhook'), n)); // 1 running, 2 queued
    await sleep(5);
    expect(await d.dispatch(reg('webhook'), n, 2)).toBe('deferred');
    expect(deferred).toMatchObject([{ attempt: 2, reason: 'queue_full' }]);
    const waited = d.dispatch(reg('webhook'), n, 2, 'wait');
    for (let i = 0; i < 4; i++) {
      await until(() => release.length > 0);
      release.shift()!();
    }
    expect(await Promise.all([...results, waited])).toEqual(['sent', 'sent', 'sent', 'sent']);
  });
});
