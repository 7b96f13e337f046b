// Cassandra: client factory and the migration runner (versioned CQL files per service, applied at start
// or by `<service> migrate`; never by hand).
import cassandra from 'cassandra-driver';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { kitMetrics } from './metrics.js';

export type CassandraClient = cassandra.Client;
export const cassandraTypes = cassandra.types;

/** Every read and plain write of the services' tables: a prepared statement at LOCAL_QUORUM. */
export const QUORUM = { prepare: true, consistency: cassandra.types.consistencies.localQuorum };
/** Lightweight transactions (IF ...): Paxos at LOCAL_SERIAL, the commit at LOCAL_QUORUM. */
export const LWT = { prepare: true, consistency: cassandra.types.consistencies.localQuorum, serialConsistency: cassandra.types.consistencies.localSerial };

/** A bigint as the driver's bigint/counter parameter. */
export function toLong(v: bigint): cassandra.types.Long {
  return cassandra.types.Long.fromString(v.toString());
}

/** A bigint column's value (the driver's Long, or anything that prints as an integer); null or absent → undefined. */
export function toBig(v: unknown): bigint | undefined {
  return v === null || v === undefined ? undefined : BigInt((v as { toString(): string }).toString());
}

export interface CassandraSettings {
  /** host or host:port */
  contactPoints: string[];
  localDataCenter: string;
  keyspace: string;
  replication?: string;
  username?: string | undefined;
  password?: string | undefined;
}

/** The part of a service's config that `infraEnv.cassandra` parses. */
export interface CassandraConfig {
  cassandraContactPoints: string[];
  cassandraDatacenter: string;
  cassandraKeyspace: string;
  cassandraReplication: string;
  cassandraUsername?: string | undefined;
  cassandraPassword?: string | undefined;
}

/** Settings from a config parsed with `infraEnv.cassandra`. */
export function cassandraSettings(cfg: CassandraConfig): CassandraSettings {
  return {
    contactPoints: cfg.cassandraContactPoints,
    localDataCenter: cfg.cassandraDatacenter,
    keyspace: cfg.cassandraKeyspace,
    replication: cfg.cassandraReplication,
    username: cfg.cassandraUsername,
    password: cfg.cassandraPassword,
  };
}

/** `SELECT … FROM t`, `INSERT INTO t`, `UPDATE t`, `DELETE FROM t` → [op, table]; a batch by its first statement. */
export function statementKind(query: unknown): [string, string] {
  const first = Array.isArray(query) ? query[0] : query;
  const text = typeof first === 'string' ? first : typeof (first as { query?: unknown })?.query === 'string' ? (first as { query: string }).query : '';
  const words = text.trim().split(/\s+/);
  const op = (words[0] ?? '').toLowerCase();
  const after = (w: string) => words[words.findIndex((x) => x.toLowerCase() === w) + 1] ?? '';
  const table = op === 'select' || op === 'delete' ? after('from') : op === 'insert' ? after('into') : op === 'update' ? (words[1] ?? '') : '';
  const known = ['select', 'insert', 'update', 'delete'].includes(op);
  // Reads by shape (one row, a range, an IN list): they cost differently.
  const where = text.slice(text.toLowerCase().indexOf(' where ') + 1 || text.length);
  const shape = op !== 'select' ? '' : / in \?/i.test(where) ? '_in' : /[<>]/.test(where) ? '_range' : '';
  return [(known ? op + shape : 'other') + (Array.isArray(query) ? '_batch' : ''), known ? (table.split('(')[0]!.split('.').pop() ?? '').toLowerCase() : ''];
}

/** Per-statement latency into `parley_cassandra_request_seconds` (the driver's RequestTracker hook). */
// The driver checks `instanceof RequestTracker` (a class at run time; its typings declare an interface).
const TrackerBase = (cassandra.tracker as unknown as { RequestTracker: new () => cassandra.tracker.RequestTracker }).RequestTracker;
class LatencyTracker extends TrackerBase {
  override onSuccess(_h: unknown, query: unknown, _p: unknown, _o: unknown, _rq: number, _rs: number, latency: number[]): void {
    const [op, table] = statementKind(query);
    kitMetrics.cassandraSeconds.observe({ op, table, result: 'ok' }, latency[0]! + latency[1]! / 1e9);
  }
  override onError(_h: unknown, query: unknown, _p: unknown, _o: unknown, _rq: number, _err: unknown, latency: number[]): void {
    const [op, table] = statementKind(query);
    kitMetrics.cassandraSeconds.observe({ op, table, result: 'error' }, latency[0]! + latency[1]! / 1e9);
  }
}

export type CassandraClientSettings = Omit<CassandraSettings, 'keyspace' | 'replication'> & { keyspace?: string };

function clientOptions(s: CassandraClientSettings, withKeyspace: boolean): cassandra.ClientOptions {
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
    ...(withKeyspace && s.keyspace ? { keyspace: s.keyspace } : {}),
    protocolOptions: { port: port ?? 9042 },
    queryOptions: { prepare: true, consistency: cassandra.types.consistencies.localQuorum, serialConsistency: cassandra.types.consistencies.localSerial },
    socketOptions: { connectTimeout: 5000, readTimeout: 12000 },
    pooling: { heartBeatInterval: 10000 },
    policies: { reconnection: new cassandra.policies.reconnection.ExponentialReconnectionPolicy(250, 5000, false) },
    requestTracker: new LatencyTracker(),
  };
  if (s.username) opts.authProvider = new cassandra.auth.PlainTextAuthProvider(s.username, s.password ?? '');
  return opts;
}

/**
 * A cassandra-driver Client, bound to `keyspace` when given (it must exist: run migrations first). Every
 * `execute` is prepared by default (`queryOptions.prepare`), LOCAL_QUORUM / LOCAL_SERIAL, and the driver
 * reconnects on its own (exponential 250 ms – 5 s) so a Cassandra restart heals without a service restart.
 */
export function createCassandra(s: CassandraClientSettings): cassandra.Client {
  return new cassandra.Client(clientOptions(s, true));
}

export interface Migration {
  version: number;
  name: string;
  statements: string[];
}

/** Removes a `--` or `//` comment from one line, unless it is inside a '…' string literal. */
function stripComment(line: string): string {
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === "'") quoted = !quoted; // '' (an escaped quote) flips twice
    else if (!quoted && (c === '-' || c === '/') && line[i + 1] === c) return line.slice(0, i);
  }
  return line;
}

/** Splits CQL text into statements: `--` and `//` comments removed, split on a `;` that ends a line. */
export function parseCql(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map(stripComment)
    .join('\n')
    .split(/;[ \t]*(?:\n|$)/)
    .map((st) => st.trim())
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
/** Schema changes wait for every node's agreement and queue behind other sessions' DDL: a longer read timeout. */
const DDL = { prepare: false, readTimeout: 60_000 };
const LOCK_TTL_S = 60;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until every node reports the same schema version (after DDL), up to timeoutMs. */
export async function waitForSchemaAgreement(client: cassandra.Client, timeoutMs = 30_000): Promise<void> {
  const md = client.metadata as unknown as { checkSchemaAgreement(): Promise<boolean> };
  const t0 = Date.now();
  while (!(await md.checkSchemaAgreement())) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`no schema agreement after ${timeoutMs} ms`);
    await sleep(200);
  }
}

/**
 * Creates the keyspace if missing and applies the service's pending migrations in order, recording each
 * in `schema_migrations (service, version, name, applied_at)`.
 *
 * Concurrency (two replicas starting at once): the keyspace and the two bookkeeping tables are created with
 * `IF NOT EXISTS`, which is safe to race. Applying migrations is then serialized per service by a lease in
 * `schema_migrations_lock`, taken with an LWT (`INSERT … IF NOT EXISTS USING TTL 60`, renewed every 20 s while
 * applying, released with `DELETE … IF owner = ?`). The winner applies; the others wait, then re-read
 * `schema_migrations` and find nothing left to do. A process that dies holding the lease blocks the others for at
 * most the TTL. Migrations should still be written idempotently (`IF NOT EXISTS`) because a crash between a
 * statement and its `schema_migrations` record re-runs the whole file on the next start. DDL also goes through
 * one coordinator at a time, which avoids concurrent CREATE TABLE schema collisions on multi-node clusters.
 * After each migration the runner waits for schema agreement before going on.
 */
export async function runMigrations(opts: {
  settings: CassandraSettings;
  service: string;
  migrations: Migration[];
  logger: Logger;
  /** How long to wait for another process's lease (default 5 min). */
  lockTimeoutMs?: number;
}): Promise<{ applied: string[] }> {
  const { settings, service, migrations } = opts;
  const log = opts.logger.child({ subsystem: 'migrations', service, keyspace: settings.keyspace });
  if (!IDENT.test(settings.keyspace)) throw new Error(`invalid keyspace name "${settings.keyspace}"`);
  const admin = new cassandra.Client(clientOptions(settings, false));
  try {
    await admin.connect();
    const replication = settings.replication ?? "{'class': 'SimpleStrategy', 'replication_factor': 1}";
    await admin.execute(`CREATE KEYSPACE IF NOT EXISTS ${settings.keyspace} WITH replication = ${replication}`, [], DDL);
    await waitForSchemaAgreement(admin);
  } finally {
    await admin.shutdown();
  }
  const client = createCassandra(settings);
  const applied: string[] = [];
  const owner = `${process.pid}-${Math.random().toString(36).slice(2)}`;
  let renew: NodeJS.Timeout | undefined;
  let locked = false;
  try {
    await client.connect();
    await client.execute(
      'CREATE TABLE IF NOT EXISTS schema_migrations (service text, version int, name text, applied_at timestamp, PRIMARY KEY (service, version))',
      [],
      DDL,
    );
    await client.execute('CREATE TABLE IF NOT EXISTS schema_migrations_lock (service text PRIMARY KEY, owner text, acquired_at timestamp)', [], DDL);
    await waitForSchemaAgreement(client);
    const appliedVersions = async () =>
      new Set(
        (await client.execute('SELECT version FROM schema_migrations WHERE service = ?', [service])).rows.map((r) => Number(r.get('version'))),
      );
    // Fast path: nothing pending, no lock needed.
    const before = await appliedVersions();
    if (migrations.every((m) => before.has(m.version))) return { applied };

    const t0 = Date.now();
    let announced = false;
    for (;;) {
      const rs = await client.execute(`INSERT INTO schema_migrations_lock (service, owner, acquired_at) VALUES (?, ?, ?) IF NOT EXISTS USING TTL ${LOCK_TTL_S}`, [
        service,
        owner,
        new Date(),
      ]);
      if (rs.wasApplied()) break;
      if (!announced) log.info({ holder: rs.first()?.get('owner') }, 'another process is migrating; waiting for its lease');
      announced = true;
      if (Date.now() - t0 > (opts.lockTimeoutMs ?? 300_000)) throw new Error(`migration lease for ${service} still held after ${opts.lockTimeoutMs ?? 300_000} ms`);
      await sleep(300 + Math.random() * 400);
    }
    locked = true;
    renew = setInterval(() => {
      client
        .execute(`UPDATE schema_migrations_lock USING TTL ${LOCK_TTL_S} SET owner = ?, acquired_at = ? WHERE service = ? IF owner = ?`, [
          owner,
          new Date(),
          service,
          owner,
        ])
        .catch((err: unknown) => log.warn({ err }, 'could not renew the migration lease'));
    }, 20_000);
    renew.unref();

    const done = await appliedVersions();
    for (const m of migrations) {
      if (done.has(m.version)) continue;
      for (const stmt of m.statements) await client.execute(stmt, [], DDL);
      await waitForSchemaAgreement(client);
      await client.execute('INSERT INTO schema_migrations (service, version, name, applied_at) VALUES (?, ?, ?, ?)', [service, m.version, m.name, new Date()]);
      applied.push(`${m.version}_${m.name}`);
      log.info({ migration: `${m.version}_${m.name}` }, 'migration applied');
    }
  } finally {
    if (renew) clearInterval(renew);
    if (locked) {
      await client
        .execute('DELETE FROM schema_migrations_lock WHERE service = ? IF owner = ?', [service, owner])
        .catch((err: unknown) => log.warn({ err }, 'could not release the migration lease (it expires by itself)'));
    }
    await client.shutdown();
  }
  return { applied };
}

/** The service's Cassandra client, from its config (`infraEnv.cassandra`). */
export function openCassandra(cfg: CassandraConfig): cassandra.Client {
  return createCassandra(cassandraSettings(cfg));
}

/** Applies a service's migrations (the .cql files of `dir`) to the keyspace of its config; resolves to those applied. */
export async function migrateKeyspace(cfg: CassandraConfig, service: string, dir: string, logger: Logger): Promise<string[]> {
  return (await runMigrations({ settings: cassandraSettings(cfg), service, migrations: loadMigrations(dir), logger })).applied;
}

/** A service's `static migrate` (what serviceMain's `migrate` command and its create run): migrateKeyspace for `service`. */
export function keyspaceMigrator(service: string): (cfg: CassandraConfig, dir: string, logger: Logger) => Promise<string[]> {
  return (cfg, dir, logger) => migrateKeyspace(cfg, service, dir, logger);
}
