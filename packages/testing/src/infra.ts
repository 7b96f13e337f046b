// Test-side view of the local infrastructure run by infra/parley-infra: connection settings, small
// polling/naming helpers, and control of the servers for fault tests. Dependency-free on purpose.
// (No import.meta here: jest loads this through SWC as CommonJS.)
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';

export const INFRA_SERVERS = ['redis', 'kafka', 'cassandra', 'minio'] as const;
export type InfraServer = (typeof INFRA_SERVERS)[number];

export interface InfraSettings {
  redis: { url: string; host: string; port: number };
  kafka: { brokers: string[] };
  cassandra: {
    contactPoints: string[];
    localDataCenter: string;
    keyspace: string;
    /** CQL replication map, e.g. `{'class':'SimpleStrategy','replication_factor':1}`. */
    replication: string;
  };
  minio: {
    /** Full URL, e.g. `http://127.0.0.1:9100`. */
    endpoint: string;
    /** Host and port split out for the `minio` client (`endPoint`, `port`, `useSSL`). */
    endPoint: string;
    port: number;
    useSSL: boolean;
    accessKey: string;
    secretKey: string;
    bucket: string;
    /** PARLEY_MINIO_PUBLIC_ENDPOINT: the URL presigned URLs are made for, when clients use another name. */
    publicEndpoint?: string;
  };
}

const HOST = '127.0.0.1';

/**
 * Connection settings for the local servers: the PARLEY_* variables of docs/architecture.md when set,
 * else the port overrides infra/parley-infra understands (PARLEY_REDIS_PORT, …), else the defaults.
 */
export function infraSettings(env: NodeJS.ProcessEnv = process.env): InfraSettings {
  const get = (name: string): string | undefined => {
    const v = env[name];
    return v === undefined || v === '' ? undefined : v;
  };
  const port = (name: string, dflt: number): number => {
    const n = Number(get(name) ?? dflt);
    if (!Number.isInteger(n) || n <= 0 || n > 65535) throw new Error(`${name}=${get(name)} is not a port`);
    return n;
  };

  const redisUrl = get('PARLEY_REDIS_URL') ?? `redis://${HOST}:${port('PARLEY_REDIS_PORT', 6390)}`;
  const ru = new URL(redisUrl);
  const minioEndpoint = get('PARLEY_MINIO_ENDPOINT') ?? `http://${HOST}:${port('PARLEY_MINIO_PORT', 9100)}`;
  const mu = new URL(minioEndpoint);
  const useSSL = mu.protocol === 'https:';
  const list = (v: string) =>
    v
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');

  return {
    redis: { url: redisUrl, host: ru.hostname, port: Number(ru.port || 6379) },
    kafka: { brokers: list(get('PARLEY_KAFKA_BROKERS') ?? `${HOST}:${port('PARLEY_KAFKA_PORT', 9192)}`) },
    cassandra: {
      contactPoints: list(get('PARLEY_CASSANDRA_CONTACT_POINTS') ?? `${HOST}:${port('PARLEY_CASSANDRA_PORT', 9142)}`),
      localDataCenter: get('PARLEY_CASSANDRA_DATACENTER') ?? 'datacenter1',
      keyspace: get('PARLEY_CASSANDRA_KEYSPACE') ?? 'parley',
      replication: get('PARLEY_CASSANDRA_REPLICATION') ?? "{'class':'SimpleStrategy','replication_factor':1}",
    },
    minio: {
      endpoint: minioEndpoint,
      endPoint: mu.hostname,
      port: Number(mu.port || (useSSL ? 443 : 80)),
      useSSL,
      accessKey: get('PARLEY_MINIO_ACCESS_KEY') ?? 'parley',
      secretKey: get('PARLEY_MINIO_SECRET_KEY') ?? 'parley-secret-key',
      bucket: get('PARLEY_MINIO_BUCKET') ?? 'media',
      ...(get('PARLEY_MINIO_PUBLIC_ENDPOINT') ? { publicEndpoint: get('PARLEY_MINIO_PUBLIC_ENDPOINT')! } : {}),
    },
  };
}

/** The same settings as PARLEY_* environment variables (for spawning services). */
export function infraEnv(settings: InfraSettings = infraSettings()): Record<string, string> {
  return {
    PARLEY_REDIS_URL: settings.redis.url,
    PARLEY_KAFKA_BROKERS: settings.kafka.brokers.join(','),
    PARLEY_CASSANDRA_CONTACT_POINTS: settings.cassandra.contactPoints.join(','),
    PARLEY_CASSANDRA_DATACENTER: settings.cassandra.localDataCenter,
    PARLEY_CASSANDRA_KEYSPACE: settings.cassandra.keyspace,
    PARLEY_CASSANDRA_REPLICATION: settings.cassandra.replication,
    PARLEY_MINIO_ENDPOINT: settings.minio.endpoint,
    PARLEY_MINIO_ACCESS_KEY: settings.minio.accessKey,
    PARLEY_MINIO_SECRET_KEY: settings.minio.secretKey,
    PARLEY_MINIO_BUCKET: settings.minio.bucket,
    ...(settings.minio.publicEndpoint ? { PARLEY_MINIO_PUBLIC_ENDPOINT: settings.minio.publicEndpoint } : {}),
  };
}

function canListen(port: number, host: string): Promise<boolean> {
  return new Promise((ok) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => ok(false));
    srv.listen({ port, host, exclusive: true }, () => srv.close(() => ok(true)));
  });
}

const handedOut = new Set<number>();

/**
 * A TCP port that was free (on 0.0.0.0 and 127.0.0.1) a moment ago, for a server started next. It is taken
 * from 20000–32767, BELOW the kernel's ephemeral range (ip_local_port_range starts at 32768): a port the
 * kernel hands out (`listen(0)`) can be taken again by any outgoing connection — Cassandra, Kafka, Redis
 * clients open many — before the server binds it. Never the same port twice in one process.
 */
export async function freePort(): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const port = 20000 + Math.floor(Math.random() * 12768);
    if (handedOut.has(port)) continue;
    if ((await canListen(port, '0.0.0.0')) && (await canListen(port, HOST))) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error('no free port found in 20000-32767');
}

export interface WaitForOptions {
  /** Give up after this long (default 10 s). */
  timeoutMs?: number;
  /** Pause between attempts (default 100 ms). */
  intervalMs?: number;
  /** Named in the timeout error. */
  description?: string;
}

/**
 * Calls `fn` until it returns a value other than false/null/undefined without throwing, and returns
 * that value. Rejects after `timeoutMs` with the last error (or last falsy result) in the message.
 */
export async function waitFor<T>(
  fn: () => T | Promise<T>,
  opts: WaitForOptions = {},
): Promise<Exclude<T, false | null | undefined>> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const intervalMs = opts.intervalMs ?? 100;
  const deadline = Date.now() + timeoutMs;
  let last = 'condition never held';
  for (;;) {
    try {
      const v = await fn();
      if (v !== false && v !== null && v !== undefined) return v as Exclude<T, false | null | undefined>;
      last = `last result: ${String(v)}`;
    } catch (err) {
      last = `last error: ${err instanceof Error ? err.message : String(err)}`;
    }
    if (Date.now() >= deadline) {
      throw new Error(`waitFor${opts.description ? ` (${opts.description})` : ''} timed out after ${timeoutMs} ms; ${last}`);
    }
    await new Promise((r) => setTimeout(r, Math.min(intervalMs, Math.max(0, deadline - Date.now()))));
  }
}

/**
 * A short unique name usable as a Cassandra keyspace, Kafka topic prefix or Redis key prefix:
 * lower-case letters, digits and `_`, starting with a letter, at most 48 characters.
 */
export function uniqueName(prefix = 't'): string {
  let p = prefix.toLowerCase().replace(/[^a-z0-9_]+/g, '_');
  if (!/^[a-z]/.test(p)) p = `t${p}`;
  const suffix = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  return `${p.slice(0, 48 - suffix.length - 1)}_${suffix}`;
}

/** The workspace root: the nearest directory above process.cwd() holding pnpm-workspace.yaml. */
export function repoRoot(from: string = process.cwd()): string {
  let dir = resolve(from);
  for (;;) {
    if (existsSync(join(dir, 'pnpm-workspace.yaml'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`no pnpm-workspace.yaml above ${from}`);
    dir = up;
  }
}

export interface InfraServerStatus {
  name: string;
  state: 'healthy' | 'starting' | 'down';
  pid: number | undefined;
  port: number;
  log: string;
}

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

function runInfra(args: string[], timeoutMs: number): Promise<RunResult> {
  const script = join(repoRoot(), 'infra', 'parley-infra');
  return new Promise((ok) => {
    execFile(script, args, { timeout: timeoutMs, maxBuffer: 4 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      ok({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

function check(r: RunResult, what: string): void {
  if (r.code !== 0) throw new Error(`parley-infra ${what} failed (exit ${r.code}):\n${r.stdout}${r.stderr}`);
}

/** Parses `parley-infra status` output. */
export function parseInfraStatus(text: string): InfraServerStatus[] {
  const out: InfraServerStatus[] = [];
  for (const line of text.split('\n')) {
    const m = /^(\S+)\s+(healthy|starting|down)\s+pid=(\S+)\s+port=(\d+)\s+log=(\S+)/.exec(line);
    if (!m) continue;
    const [, name = '', state = 'down', pid = '-', port = '0', log = ''] = m;
    out.push({
      name,
      state: state as InfraServerStatus['state'],
      pid: pid === '-' ? undefined : Number(pid),
      port: Number(port),
      log,
    });
  }
  return out;
}

/**
 * Control of the servers started by infra/parley-infra, for fault tests: stop one (SIGTERM, or
 * SIGKILL with `{ kill: true }`), start it again (waits until it answers), read the status.
 * The servers are shared by everything running on this machine: always restore what you stop.
 */
export const infraControl = {
  async stop(name: InfraServer, opts: { kill?: boolean } = {}): Promise<void> {
    check(await runInfra(['stop', ...(opts.kill ? ['--kill'] : []), name], 120_000), `stop ${name}`);
  },
  async start(name: InfraServer): Promise<void> {
    check(await runInfra(['start', name], 300_000), `start ${name}`);
  },
  async status(): Promise<InfraServerStatus[]> {
    return parseInfraStatus((await runInfra(['status'], 60_000)).stdout);
  },
};
