// The group service's Prometheus metrics, made once by wiring.ts.
import type { Metrics } from '@parley/kit';

export interface GroupMetrics {
  ops: ReturnType<Metrics['counter']>;
  publishes: ReturnType<Metrics['counter']>;
  warnings: ReturnType<Metrics['counter']>;
}

export function groupMetrics(m: Metrics): GroupMetrics {
  return {
    ops: m.counter('parley_group_ops_total', 'membership operations committed to the sequence, by kind and whether healed', ['kind', 'healed']),
    publishes: m.counter('parley_group_chat_updated_gateways_total', 'chat.updated deliveries published (one per gateway)'),
    warnings: m.counter('parley_group_best_effort_failures_total', 'best-effort steps that failed (publish, heal during reads)'),
  };
}
