import { createLogger } from '@parley/kit';
import { backoffMs, Dispatcher, type DispatchMetrics } from './dispatcher.js';
import type { Notification, Provider, Registration, SendOutcome } from './types.js';

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
});
