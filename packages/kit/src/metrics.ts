// Prometheus metrics: one registry per process with default Node metrics and a `service` label.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface Metrics {
  registry: Registry;
  counter(name: string, help: string, labels?: string[]): Counter<string>;
  gauge(name: string, help: string, labels?: string[]): Gauge<string>;
  histogram(name: string, help: string, labels?: string[], buckets?: number[]): Histogram<string>;
}

export const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export function createMetrics(service: string, opts: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: registry });
  const cache = new Map<string, unknown>();
  const once = <T>(name: string, make: () => T): T => {
    if (!cache.has(name)) cache.set(name, make());
    return cache.get(name) as T;
  };
  return {
    registry,
    counter: (name, help, labels = []) => once(name, () => new Counter({ name, help, labelNames: labels, registers: [registry] })),
    gauge: (name, help, labels = []) => once(name, () => new Gauge({ name, help, labelNames: labels, registers: [registry] })),
    histogram: (name, help, labels = [], buckets = LATENCY_BUCKETS) =>
      once(name, () => new Histogram({ name, help, labelNames: labels, buckets, registers: [registry] })),
  };
}

/**
 * Metrics the kit itself keeps (dead letters, replays), whatever the service: every ops server's /metrics
 * serves them beside the service's own registry (`startOpsServer`).
 */
export const kitRegistry = new Registry();
export const kitMetrics = {
  deadLettered: new Counter({
    name: 'parley_kafka_dead_lettered_total',
    help: 'Events parked in <topic>.dlq, by source topic, consumer group and reason (undecodable | failed)',
    labelNames: ['topic', 'group', 'reason'],
    registers: [kitRegistry],
  }),
  cassandraSeconds: new Histogram({
    name: 'parley_cassandra_request_seconds',
    help: 'Cassandra request latency seen by the driver, by statement kind and table (batch: its first statement)',
    labelNames: ['op', 'table', 'result'],
    buckets: LATENCY_BUCKETS,
    registers: [kitRegistry],
  }),
  produceSeconds: new Histogram({
    name: 'parley_kafka_produce_seconds',
    help: 'One produce request of the group-committing event producer (acks=all), from send to ack',
    buckets: LATENCY_BUCKETS,
    registers: [kitRegistry],
  }),
  produceRecords: new Histogram({
    name: 'parley_kafka_produce_records',
    help: 'Records per produce request of the event producer (its group commit)',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048],
    registers: [kitRegistry],
  }),
  replayed: new Counter({
    name: 'parley_kafka_dlq_replayed_total',
    help: 'Dead-lettered events republished to their source topic by a replay, by source topic',
    labelNames: ['topic'],
    registers: [kitRegistry],
  }),
};
