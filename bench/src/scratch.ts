// Throwaway stores for the floor benches (floor.ts, floor-rate.ts): a keyspace and a topic on the local infra
// servers (`infraSettings`, as the tests find them), each dropped by its `drop()`.
import { randomBytes } from 'node:crypto';
import { createCassandra, createKafka, createLogger, type CassandraClient, type Kafka } from '@parley/kit';
import { infraSettings } from '@parley/testing';

const DDL = { readTimeout: 60_000 };

/** A fresh keyspace with `tables` (each `name (columns…, PRIMARY KEY …)`), and a client bound to it. */
export async function scratchKeyspace(tables: string[]): Promise<{ db: CassandraClient; drop(): Promise<void> }> {
  const { contactPoints, localDataCenter } = infraSettings().cassandra;
  const ks = `floor_${randomBytes(4).toString('hex')}`;
  const admin = createCassandra({ contactPoints, localDataCenter });
  await admin.execute(`CREATE KEYSPACE ${ks} WITH replication = {'class':'SimpleStrategy','replication_factor':1}`, [], DDL);
  for (const t of tables) await admin.execute(`CREATE TABLE ${ks}.${t}`, [], DDL);
  const db = createCassandra({ contactPoints, localDataCenter, keyspace: ks });
  await db.connect();
  return {
    db,
    drop: async () => {
      await admin.execute(`DROP KEYSPACE IF EXISTS ${ks}`, [], DDL).catch(() => {});
      await admin.shutdown();
      await db.shutdown();
    },
  };
}

/** A fresh topic of `partitions` partitions, and the client that made it. */
export async function scratchTopic(partitions = 12): Promise<{ kafka: Kafka; topic: string; drop(): Promise<void> }> {
  const kafka = createKafka({ brokers: infraSettings().kafka.brokers, clientId: 'floor', logger: createLogger('floor', 'warn') });
  const topic = `floor-${randomBytes(4).toString('hex')}`;
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: partitions }] });
  return {
    kafka,
    topic,
    drop: async () => {
      await admin.deleteTopics({ topics: [topic] }).catch(() => {});
      await admin.disconnect();
    },
  };
}
