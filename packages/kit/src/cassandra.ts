// Cassandra: client factory and the migration runner (versioned CQL files per service, applied at start
// or by `<service> migrate`; never by hand).
import cassandra from 'cassandra-driver';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';

export type CassandraClient = cassandra.Client;
export const cassandraTypes = cassandra.types;

export interface CassandraSettings {
  /** host or host:port */
  contactPoints: string[];
  localDataCenter: string;
  keyspace: string;
  replication?: string;
  username?: string | undefined;
  password?: string | undefined;
}

/** Settings from a config parsed with `infraEnv.cassandra`. */
export function cassandraSettings(cfg: {
  cassandraContactPoints: string[];
  cassandraDatacenter: string;
  cassandraKeyspace: string;
  cassandraReplication: string;
  cassandraUsername?: string | undefined;
  cassandraPassword?: string | undefined;
}): CassandraSettings {
  return {
    contactPoints: cfg.cassandraContactPoints,
    localDataCenter: cfg.cassandraDatacenter,
    keyspace: cfg.cassandraKeyspace,
    replication: cfg.cassandraReplication,
    username: cfg.cassandraUsername,
    password: cfg.cassandraPassword,
  };
}

function clientOptions(s: CassandraSettings, withKeyspace: boolean): cassandra.ClientOptions {
  const hosts: string[] = [];
  let port: number | undefined;
  for (const cp of s.contactPoints) {
    const [host, p] = cp.split(':');
    hosts.push(host ?? cp);
    if (p) port = Number(p);
  }
  const opts: cassandra.ClientOptions = {
    contactPoints: hosts,
    localDataCenter: s.localDataCenter,
    ...(withKeyspace ? { keyspace: s.keyspace } : {}),
    protocolOptions: { port: port ?? 9042 },
    queryOptions: { prepare: true, consistency: cassandra.types.consistencies.localQuorum, serialConsistency: cassandra.types.consistencies.localSerial },
    socketOptions: { connectTimeout: 5000, readTimeout: 12000 },
    pooling: { heartBeatInterval: 10000 },
    policies: { reconnection: new cassandra.policies.reconnection.ExponentialReconnectionPolicy(250, 5000, false) },
  };
  if (s.username) opts.authProvider = new cassandra.auth.PlainTextAuthProvider(s.username, s.password ?? '');
  return opts;
}

/** A client bound to the keyspace (which must exist: run migrations first). Prepared statements by default. */
export function createCassandra(s: CassandraSettings): cassandra.Client {
  return new cassandra.Client(clientOptions(s, true));
}

export interface Migration {
  version: number;
  name: string;
  statements: string[];
}

/** Splits CQL text into statements: `--` and `//` line comments removed, split on `;` at line end. */
export function parseCql(text: string): string[] {
  const lines = text.split('\n').map((l) => l.replace(/^\s*(--|\/\/).*$/, ''));
  return lines
    .join('\n')
    .split(/;\s*(?:\n|$)/)
    .map((s) => s.trim())
    .filter(Boolean);
}

/** Reads `NNN_name.cql` files from a folder, ordered by version. */
export function loadMigrations(dir: string): Migration[] {
  const out: Migration[] = [];
  for (const f of readdirSync(dir)) {
    const m = /^(\d+)_([\w.-]+)\.cql$/.exec(f);
    if (!m) continue;
    out.push({ version: Number(m[1]), name: m[2]!, statements: parseCql(readFileSync(join(dir, f), 'utf8')) });
  }
  out.sort((a, b) => a.version - b.version);
  const seen = new Set<number>();
  for (const m of out) {
    if (seen.has(m.version)) throw new Error(`duplicate migration version ${m.version} in ${dir}`);
    seen.add(m.version);
  }
  return out;
}

const IDENT = /^[a-z_][a-z0-9_]{0,47}$/;

/**
 * Creates the keyspace if missing and applies the service's pending migrations in order, recording each
 * in `schema_migrations`. Every statement must be idempotent (`IF NOT EXISTS`), so two processes racing
 * (two replicas starting at once) both converge; the record is written after the statements succeed.
 */
export async function runMigrations(opts: {
  settings: CassandraSettings;
  service: string;
  migrations: Migration[];
  logger: Logger;
}): Promise<{ applied: string[] }> {
  const { settings, service, migrations } = opts;
  const log = opts.logger.child({ subsystem: 'migrations' });
  if (!IDENT.test(settings.keyspace)) throw new Error(`invalid keyspace name "${settings.keyspace}"`);
  const admin = new cassandra.Client(clientOptions(settings, false));
  try {
    await admin.connect();
    const replication = settings.replication ?? "{'class': 'SimpleStrategy', 'replication_factor': 1}";
    await admin.execute(`CREATE KEYSPACE IF NOT EXISTS ${settings.keyspace} WITH replication = ${replication}`);
  } finally {
    await admin.shutdown();
  }
  const client = createCassandra(settings);
  const applied: string[] = [];
  try {
    await client.connect();
    await client.execute(
      'CREATE TABLE IF NOT EXISTS schema_migrations (service text, version int, name text, applied_at timestamp, PRIMARY KEY (service, version))',
    );
    const done = new Set(
      (await client.execute('SELECT version FROM schema_migrations WHERE service = ?', [service])).rows.map((r) => Number(r.get('version'))),
    );
    for (const m of migrations) {
      if (done.has(m.version)) continue;
      for (const stmt of m.statements) await client.execute(stmt, [], { prepare: false });
      await client.execute('INSERT INTO schema_migrations (service, version, name, applied_at) VALUES (?, ?, ?, ?)', [
        service,
        m.version,
        m.name,
        new Date(),
      ]);
      applied.push(`${m.version}_${m.name}`);
      log.info({ service, keyspace: settings.keyspace, migration: `${m.version}_${m.name}` }, 'migration applied');
    }
  } finally {
    await client.shutdown();
  }
  return { applied };
}
