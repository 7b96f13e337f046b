#!/usr/bin/env node
// `parley-infra prune`: deletes what test and bench meshes left on the local servers when they were killed
// before their own cleanup ran: Kafka topics of a mesh namespace (`<id>.<topic>`, id = lowercase letters and
// digits, as packages/testing's mesh names them) and `e2e_<id>` Cassandra keyspaces. The dev stack's plain
// topics and `parley` keyspace are never touched. Run it only while no test or bench is running against these
// servers: a running mesh's topics look the same as a leftover's.
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '..', '..', 'packages', 'testing', 'package.json'));
const { Kafka, logLevel } = require('kafkajs');
const cassandra = require('cassandra-driver');

const env = process.env;
const host = env.PARLEY_INFRA_HOST ?? '127.0.0.1';
const MESH_TOPIC = /^[a-z0-9]{8,}\./;
const MESH_KEYSPACE = /^e2e_[a-z0-9]+$/;

const admin = new Kafka({ clientId: 'parley-prune', brokers: [`${host}:${env.PARLEY_KAFKA_PORT ?? 9192}`], logLevel: logLevel.NOTHING }).admin();
await admin.connect();
const topics = (await admin.listTopics()).filter((t) => MESH_TOPIC.test(t));
for (let i = 0; i < topics.length; i += 200) {
  await admin.deleteTopics({ topics: topics.slice(i, i + 200), timeout: 60_000 });
  console.log(`[prune] kafka: deleted ${Math.min(i + 200, topics.length)}/${topics.length} leftover mesh topics`);
}
if (topics.length === 0) console.log('[prune] kafka: no leftover mesh topics');
await admin.disconnect();

const client = new cassandra.Client({
  contactPoints: [`${host}:${env.PARLEY_CASSANDRA_PORT ?? 9142}`],
  localDataCenter: env.PARLEY_CASSANDRA_DATACENTER ?? 'datacenter1',
  socketOptions: { readTimeout: 120_000 },
});
await client.connect();
const rows = (await client.execute('SELECT keyspace_name FROM system_schema.keyspaces')).rows;
const keyspaces = rows.map((r) => r.keyspace_name).filter((k) => MESH_KEYSPACE.test(k));
let n = 0;
for (const ks of keyspaces) {
  await client.execute(`DROP KEYSPACE IF EXISTS ${ks}`);
  n += 1;
  if (n % 10 === 0 || n === keyspaces.length) console.log(`[prune] cassandra: dropped ${n}/${keyspaces.length} leftover e2e keyspaces`);
}
if (keyspaces.length === 0) console.log('[prune] cassandra: no leftover e2e keyspaces');
await client.shutdown();
