// Migrations and the client against the real Cassandra, in a keyspace of its own (dropped at the end).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { checks, createCassandra, loadMigrations, runMigrations, type CassandraClient, type CassandraSettings } from '../src/index.js';
import { infra, logger, runId } from './support.js';

const settings: CassandraSettings = {
  contactPoints: infra.cassandraContactPoints,
  localDataCenter: infra.cassandraDatacenter,
  keyspace: `kit_${runId}`,
};

function migrationsDir(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'mig-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

let admin: CassandraClient;
beforeAll(async () => {
  admin = createCassandra({ contactPoints: settings.contactPoints, localDataCenter: settings.localDataCenter });
  await admin.connect();
});
afterAll(async () => {
  await admin.execute(`DROP KEYSPACE IF EXISTS ${settings.keyspace}`, [], { prepare: false }).catch(() => {});
  await admin.shutdown();
});

describe('Cassandra', () => {
  it('applies versioned migrations once, then writes and reads back', async () => {
    const dir = migrationsDir({
      '001_init.cql': '-- a table\nCREATE TABLE IF NOT EXISTS notes (\n  id text PRIMARY KEY, -- the id\n  body text\n);\n',
      '002_more.cql': 'ALTER TABLE notes ADD tags set<text>;\n',
      'README.md': 'not a migration',
    });
    const migrations = loadMigrations(dir);
    expect(migrations.map((m) => `${m.version}_${m.name}`)).toEqual(['1_init', '2_more']);
    const first = await runMigrations({ settings, service: 'kit-test', migrations, logger });
    expect(first.applied).toEqual(['1_init', '2_more']);
    const again = await runMigrations({ settings, service: 'kit-test', migrations, logger });
    expect(again.applied).toEqual([]);

    const recorded = await admin.execute(`SELECT version, name, applied_at FROM ${settings.keyspace}.schema_migrations WHERE service = ?`, ['kit-test']);
    expect(recorded.rows.map((r) => [r.get('version'), r.get('name')])).toEqual([
      [1, 'init'],
      [2, 'more'],
    ]);
    expect(recorded.rows[0]!.get('applied_at')).toBeInstanceOf(Date);

    const client = createCassandra(settings);
    try {
      await client.execute('INSERT INTO notes (id, body, tags) VALUES (?, ?, ?)', ['n1', 'hello', ['a', 'b']]);
      const row = (await client.execute('SELECT body, tags FROM notes WHERE id = ?', ['n1'])).first();
      expect(row.get('body')).toBe('hello');
      expect([...(row.get('tags') as string[])].sort()).toEqual(['a', 'b']);
      await checks.cassandra(client)();
    } finally {
      await client.shutdown();
    }
  }, 90_000);

  it('lets two processes migrate at once: each migration applied exactly once, even a non-idempotent one', async () => {
    // ALTER TABLE … ADD is not idempotent: without the lease, the loser of the race would fail on it.
    const migrations = loadMigrations(
      migrationsDir({
        '001_a.cql': 'CREATE TABLE IF NOT EXISTS race (id int PRIMARY KEY);\n',
        '002_b.cql': 'ALTER TABLE race ADD extra text;\n',
        '003_c.cql': 'ALTER TABLE race ADD more text;\n',
      }),
    );
    const [a, b] = await Promise.all([
      runMigrations({ settings, service: 'kit-race', migrations, logger }),
      runMigrations({ settings, service: 'kit-race', migrations, logger }),
    ]);
    expect([...a.applied, ...b.applied].sort()).toEqual(['1_a', '2_b', '3_c']);
    const lock = await admin.execute(`SELECT owner FROM ${settings.keyspace}.schema_migrations_lock WHERE service = ?`, ['kit-race']);
    expect(lock.rowLength).toBe(0); // released
  }, 90_000);

  it('a new migration added later is applied on the next run', async () => {
    const files = { '001_x.cql': 'CREATE TABLE IF NOT EXISTS later (id int PRIMARY KEY);\n' };
    await runMigrations({ settings, service: 'kit-later', migrations: loadMigrations(migrationsDir(files)), logger });
    const next = await runMigrations({
      settings,
      service: 'kit-later',
      migrations: loadMigrations(migrationsDir({ ...files, '002_y.cql': 'ALTER TABLE later ADD y int;' })),
      logger,
    });
    expect(next.applied).toEqual(['2_y']);
  }, 90_000);

  it('rejects a duplicate version', () => {
    expect(() => loadMigrations(migrationsDir({ '001_a.cql': 'SELECT 1;', '01_b.cql': 'SELECT 1;' }))).toThrow(/duplicate migration version 1/);
  });
});
