import { createMetrics } from './metrics.js';

describe('createMetrics', () => {
  it('labels every series with the service and includes default metrics', async () => {
    const m = createMetrics('presence');
    const c = m.counter('parley_test_total', 'a test counter', ['kind']);
    c.inc({ kind: 'a' });
    m.histogram('parley_test_seconds', 'a test histogram').observe(0.02);
    const text = await m.registry.metrics();
    expect(text).toContain('parley_test_total{kind="a",service="presence"} 1');
    expect(text).toContain('parley_test_seconds_bucket{le="0.025",service="presence"} 1');
    expect(text).toContain('process_cpu_user_seconds_total');
  });

  it('returns the same metric for the same name (no duplicate registration)', () => {
    const m = createMetrics('x', { defaultMetrics: false });
    expect(m.counter('a_total', 'a')).toBe(m.counter('a_total', 'a'));
  });

  it('keeps registries separate per call', async () => {
    const a = createMetrics('a', { defaultMetrics: false });
    const b = createMetrics('b', { defaultMetrics: false });
    a.counter('only_a_total', 'x').inc();
    expect(await b.registry.metrics()).not.toContain('only_a_total');
  });
});
