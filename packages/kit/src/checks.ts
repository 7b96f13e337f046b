// Readiness checks for each store: each resolves, or throws. `readinessMonitor` bounds each with a timeout.
import type { Client as CassandraClient } from 'cassandra-driver';
import type { Redis } from 'ioredis';
import type { ObjectStore } from './object-store.js';
import { kafkaCheck } from './kafka.js';
export { kafkaCheck };

export const checks = {
  cassandra: (client: CassandraClient) => async () => {
    await client.execute('SELECT release_version FROM system.local', [], { prepare: true });
  },
  redis: (redis: Redis) => async () => {
    if (redis.status !== 'ready') throw new Error(`redis ${redis.status}`);
    await redis.ping();
  },
  objectStore: (store: ObjectStore) => () => store.ping(),
  /** `describeCluster` through one reused admin client. */
  kafka: kafkaCheck,
};
