// A test mesh leaves nothing behind on the shared local servers when it stops: its Kafka topics (each
// namespace adds ~150 partitions; a day of leftovers made every later bench run slower) and its keyspace.
import { createCassandra, createKafka, createLogger } from '@parley/kit';
import { infraSettings, startMesh } from '@parley/testing';

jest.setTimeout(180_000);

const logger = createLogger('mesh-cleanup-test', 'silent');

test('stopping a mesh deletes its namespace topics and drops its keyspace', async () => {
  const infra = infraSettings();
  const mesh = await startMesh({ services: ['session'], gateways: 1, pushFakes: false });
  const env = mesh.envOf('session')!;
  const ns = env['PARLEY_NAMESPACE']!;
  const keyspace = env['PARLEY_CASSANDRA_KEYSPACE']!;
  expect(ns).toMatch(/^[a-z0-9]+$/);
  const admin = createKafka({ brokers: infra.kafka.brokers, clientId: 'mesh-cleanup-test', logger }).admin();
  const cql = createCassandra({ contactPoints: infra.cassandra.contactPoints, localDataCenter: infra.cassandra.localDataCenter } as never);
  await admin.connect();
  try {
    const ours = async () => (await admin.listTopics()).filter((t) => t.startsWith(`${ns}.`));
    const hasKeyspace = async () => (await cql.execute('SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = ?', [keyspace])).rowLength > 0;
    // while it runs, the namespace has topics and a keyspace (so the checks below can fail)
    expect((await ours()).length).toBeGreaterThan(0);
    expect(await hasKeyspace()).toBe(true);
    await mesh.stop();
    expect(await ours()).toEqual([]);
    expect(await hasKeyspace()).toBe(false);
  } finally {
    await admin.disconnect();
    await cql.shutdown();
  }
});
