// Test support: a fresh keyspace per suite on the real Cassandra, with this service's migrations applied.
import cassandra from 'cassandra-driver';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

export const MIGRATIONS_DIR = join(__dirname, '..', 'migrations');

export function statementsOf(cql: string): string[] {
  return cql
    .split('\n')
    .filter((l) => !l.trim().startsWith('--'))
    .join('\n')
    .split(';')
    .map((s) => s.trim())
    .filter(Boolean);
}

export async function freshKeyspace(prefix = 'msgtest'): Promise<{ client: cassandra.Client; keyspace: string; drop(): Promise<void> }> {
  const keyspace = `${prefix}_${randomBytes(4).toString('hex')}`;
  const contactPoints = (process.env.PARLEY_CASSANDRA_CONTACT_POINTS ?? '127.0.0.1:9142').split(',');
  const localDataCenter = process.env.PARLEY_CASSANDRA_DATACENTER ?? 'datacenter1';
  const admin = new cassandra.Client({ contactPoints, localDataCenter });
  await admin.connect();
  await admin.execute(`CREATE KEYSPACE IF NOT EXISTS ${keyspace} WITH replication = {'class':'SimpleStrategy','replication_factor':1}`);
  await admin.shutdown();
  const client = new cassandra.Client({ contactPoints, localDataCenter, keyspace });
  await client.connect();
  for (const f of readdirSync(MIGRATIONS_DIR).filter((f) => f.endsWith('.cql')).sort()) {
    for (const st of statementsOf(readFileSync(join(MIGRATIONS_DIR, f), 'utf8'))) await client.execute(st);
  }
  return {
    client,
    keyspace,
    drop: async () => {
      await client.execute(`DROP KEYSPACE IF EXISTS ${keyspace}`).catch(() => {});
      await client.shutdown();
    },
  };
}
