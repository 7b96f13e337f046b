// Config from env, validated once at start. `readEnv` is main.ts's job (process.env); `defineConfig`
// validates, fills defaults and fails fast naming every bad variable. `spec.names` is the authoritative
// list of variables a service reads (the Helm chart tests compare against it).

export class ConfigError extends Error {
  constructor(
    /** One line per bad or missing variable, each naming it. */
    readonly problems: string[],
    /** The variables at fault. */
    readonly variables: string[] = [],
  ) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

export interface EnvVar<T> {
  readonly name: string;
  readonly hasDefault: boolean;
  readonly optional: boolean;
  readonly defaultValue: T | undefined;
  readonly secret: boolean;
  parse(raw: string | undefined): T;
}

interface Common<T> {
  default?: T;
  optional?: boolean;
  secret?: boolean;
}

function make<T>(name: string, o: Common<T>, conv: (raw: string) => T): EnvVar<T> {
  return {
    name,
    hasDefault: o.default !== undefined,
    optional: o.optional === true,
    defaultValue: o.default,
    secret: o.secret === true,
    parse(raw) {
      if (raw === undefined || raw.trim() === '') {
        if (o.default !== undefined) return o.default;
        if (o.optional) return undefined as T;
        throw new Error(`${name} is required`);
      }
      try {
        return conv(raw);
      } catch (err) {
        // Never echo a secret's value into logs.
        if (o.secret) throw new Error(`${name} is invalid`);
        throw err;
      }
    },
  };
}

type StrOpts = Common<string> & { minLength?: number };
type IntOpts = Common<number> & { min?: number; max?: number };
type DurationOpts = Omit<Common<number>, 'default'> & { default?: number | string; min?: number; max?: number };

function str(name: string, o: StrOpts & { optional: true }): EnvVar<string | undefined>;
function str(name: string, o?: StrOpts): EnvVar<string>;
function str(name: string, o: StrOpts = {}): EnvVar<string> {
  return make(name, o, (raw) => {
    if (o.minLength !== undefined && raw.length < o.minLength) throw new Error(`${name} must be at least ${o.minLength} characters`);
    return raw;
  });
}

function checkRange(name: string, n: number, o: { min?: number; max?: number }, unit = ''): number {
  if (o.min !== undefined && n < o.min) throw new Error(`${name} must be >= ${o.min}${unit}, got ${n}${unit}`);
  if (o.max !== undefined && n > o.max) throw new Error(`${name} must be <= ${o.max}${unit}, got ${n}${unit}`);
  return n;
}

function int(name: string, o: IntOpts & { optional: true }): EnvVar<number | undefined>;
function int(name: string, o?: IntOpts): EnvVar<number>;
function int(name: string, o: IntOpts = {}): EnvVar<number> {
  return make(name, o, (raw) => {
    if (!/^-?\d+$/.test(raw.trim())) throw new Error(`${name} must be an integer, got "${raw}"`);
    const n = Number(raw);
    if (!Number.isSafeInteger(n)) throw new Error(`${name} is out of range, got "${raw}"`);
    return checkRange(name, n, o);
  });
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "250" (ms), "250ms", "5s", "2m", "1h", "7d" → milliseconds. */
export function parseDuration(raw: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/.exec(raw.trim());
  if (!m) throw new Error(`not a duration: "${raw}"`);
  return Math.round(Number(m[1]) * UNIT_MS[m[2] ?? 'ms']!);
}

function duration(name: string, o: DurationOpts & { optional: true }): EnvVar<number | undefined>;
function duration(name: string, o?: DurationOpts): EnvVar<number>;
function duration(name: string, o: DurationOpts = {}): EnvVar<number> {
  const { default: d, ...rest } = o;
  const common: Common<number> = { ...rest, ...(d === undefined ? {} : { default: typeof d === 'number' ? d : parseDuration(d) }) };
  return make(name, common, (raw) => {
    let ms: number;
    try {
      ms = parseDuration(raw);
    } catch {
      throw new Error(`${name} must be a duration (e.g. 500ms, 5s, 2m, 1h; a bare number is ms), got "${raw}"`);
    }
    return checkRange(name, ms, o, 'ms');
  });
}

function url(name: string, o: Common<string> & { optional: true }): EnvVar<string | undefined>;
function url(name: string, o?: Common<string>): EnvVar<string>;
function url(name: string, o: Common<string> = {}): EnvVar<string> {
  return make(name, o, (raw) => {
    try {
      new URL(raw);
    } catch {
      throw new Error(`${name} must be a URL, got "${raw}"`);
    }
    return raw;
  });
}

export const env = {
  str,
  /** Same as `env.str(name, {optional: true})`. */
  optionalStr(name: string, o: { secret?: boolean } = {}): EnvVar<string | undefined> {
    return make<string | undefined>(name, { ...o, optional: true }, (raw) => raw);
  },
  int,
  /** Milliseconds; accepts `500`, `500ms`, `5s`, `2m`, `1h`, `7d`. */
  duration,
  bool(name: string, o: Common<boolean> = {}): EnvVar<boolean> {
    return make(name, o, (raw) => {
      const v = raw.trim().toLowerCase();
      if (['1', 'true', 'yes', 'on'].includes(v)) return true;
      if (['0', 'false', 'no', 'off'].includes(v)) return false;
      throw new Error(`${name} must be a boolean (true/false), got "${raw}"`);
    });
  },
  /** Comma-separated; blanks dropped. */
  list(name: string, o: Common<string[]> = {}): EnvVar<string[]> {
    return make(name, o, (raw) =>
      raw
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    );
  },
  enum<const V extends string>(name: string, values: readonly V[], o: Common<V> = {}): EnvVar<V> {
    return make(name, o, (raw) => {
      const v = raw.trim();
      if (!(values as readonly string[]).includes(v)) throw new Error(`${name} must be one of ${values.join(', ')}, got "${raw}"`);
      return v as V;
    });
  },
  url,
};

/**
 * A config schema: env variables, or groups of them (nested to any depth), so a config with a family of
 * settings (the gateway's rate classes) says so in its shape instead of in flattened key names.
 */
export interface ConfigSchema {
  readonly [key: string]: EnvVar<unknown> | ConfigSchema;
}

export type ConfigShape<S extends ConfigSchema> = {
  [K in keyof S]: S[K] extends EnvVar<infer T> ? T : S[K] extends ConfigSchema ? ConfigShape<S[K]> : never;
};

/** The parsed config type of a spec: `type Cfg = ConfigOf<typeof envSpec>`. */
export type ConfigOf<C extends { parse(raw: Record<string, string | undefined>): unknown }> = ReturnType<C['parse']>;

export interface ConfigSpec<S extends ConfigSchema> {
  /** The schema as written (nested groups included). */
  readonly schema: S;
  /** Every variable, flat, keyed by its path in the schema (`rates.send.perMinute`): what the chart tests read. */
  readonly vars: Record<string, EnvVar<unknown>>;
  /** Every variable name this config reads. */
  readonly names: string[];
  parse(raw: Record<string, string | undefined>): ConfigShape<S>;
}

function isEnvVar(v: EnvVar<unknown> | ConfigSchema): v is EnvVar<unknown> {
  return typeof (v as EnvVar<unknown>).parse === 'function' && typeof (v as EnvVar<unknown>).name === 'string';
}

function flatten(schema: ConfigSchema, prefix = '', out: Record<string, EnvVar<unknown>> = {}): Record<string, EnvVar<unknown>> {
  for (const [key, v] of Object.entries(schema)) {
    if (isEnvVar(v)) out[prefix + key] = v;
    else flatten(v, `${prefix}${key}.`, out);
  }
  return out;
}

export function defineConfig<S extends ConfigSchema>(schema: S): ConfigSpec<S> {
  const vars = flatten(schema);
  const names = [...new Set(Object.values(vars).map((v) => v.name))];
  return {
    schema,
    vars,
    names,
    parse(raw) {
      const problems: string[] = [];
      const bad: string[] = [];
      const build = (node: ConfigSchema): Record<string, unknown> => {
        const out: Record<string, unknown> = {};
        for (const [key, v] of Object.entries(node)) {
          if (!isEnvVar(v)) {
            out[key] = build(v);
            continue;
          }
          try {
            out[key] = v.parse(raw[v.name]);
          } catch (e) {
            problems.push(e instanceof Error ? e.message : String(e));
            bad.push(v.name);
          }
        }
        return out;
      };
      const out = build(schema);
      if (problems.length) throw new ConfigError(problems, bad);
      return out as ConfigShape<S>;
    },
  };
}

/** The shared infrastructure settings (docs/architecture.md), spread into a service's spec. */
export const infraEnv = {
  cassandra: {
    cassandraContactPoints: env.list('PARLEY_CASSANDRA_CONTACT_POINTS', { default: ['127.0.0.1:9142'] }),
    cassandraDatacenter: env.str('PARLEY_CASSANDRA_DATACENTER', { default: 'datacenter1' }),
    cassandraKeyspace: env.str('PARLEY_CASSANDRA_KEYSPACE', { default: 'parley' }),
    cassandraReplication: env.str('PARLEY_CASSANDRA_REPLICATION', { default: "{'class': 'SimpleStrategy', 'replication_factor': 1}" }),
    cassandraUsername: env.optionalStr('PARLEY_CASSANDRA_USERNAME'),
    cassandraPassword: env.optionalStr('PARLEY_CASSANDRA_PASSWORD', { secret: true }),
  },
  kafka: {
    kafkaBrokers: env.list('PARLEY_KAFKA_BROKERS', { default: ['127.0.0.1:9192'] }),
    kafkaTopicPartitions: env.int('PARLEY_KAFKA_TOPIC_PARTITIONS', { default: 12, min: 1 }),
    kafkaReplicationFactor: env.int('PARLEY_KAFKA_REPLICATION_FACTOR', { default: 1, min: 1 }),
  },
  redis: {
    redisUrl: env.url('PARLEY_REDIS_URL', { default: 'redis://127.0.0.1:6390' }),
  },
  minio: {
    minioEndpoint: env.url('PARLEY_MINIO_ENDPOINT', { default: 'http://127.0.0.1:9100' }),
    minioAccessKey: env.str('PARLEY_MINIO_ACCESS_KEY', { default: 'parley' }),
    minioSecretKey: env.str('PARLEY_MINIO_SECRET_KEY', { default: 'parley-secret-key', secret: true }),
    minioBucket: env.str('PARLEY_MINIO_BUCKET', { default: 'media' }),
    minioPublicEndpoint: env.optionalStr('PARLEY_MINIO_PUBLIC_ENDPOINT'),
  },
  common: {
    logLevel: env.enum('PARLEY_LOG_LEVEL', ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'], { default: 'info' }),
    /** Isolates meshes sharing servers: prefixes Kafka topics/groups (`<ns>.`) and Redis keys (`<ns>:`). */
    namespace: env.str('PARLEY_NAMESPACE', { default: '' }),
    /**
     * The directory with this process's mesh identity (ca.crt, tls.crt, tls.key). Read by @parley/kit's gRPC
     * server and clients themselves when they are created; unset, they refuse to start (no plaintext mode).
     */
    meshTlsDir: env.str('PARLEY_MESH_TLS_DIR', { optional: true }),
  },
};

/** The backend services' default gRPC ports (charts/parley/values.yaml and the local mesh use the same). */
export const DEFAULT_GRPC_PORTS = { session: 50051, group: 50052, message: 50053, presence: 50054, media: 50055, push: 50056 } as const;
export type BackendService = keyof typeof DEFAULT_GRPC_PORTS;

/** Where a service listens, spread into its spec: <PREFIX>_HOST (default 0.0.0.0), <PREFIX>_GRPC_PORT, and
 * <PREFIX>_HTTP_PORT (the ops server: /healthz, /readyz, /metrics). */
export function listenEnv(prefix: string, ports: { grpcPort: number; httpPort: number }) {
  return {
    host: env.str(`${prefix}_HOST`, { default: '0.0.0.0' }),
    grpcPort: env.int(`${prefix}_GRPC_PORT`, { default: ports.grpcPort, min: 0, max: 65535 }),
    httpPort: env.int(`${prefix}_HTTP_PORT`, { default: ports.httpPort, min: 0, max: 65535 }),
  };
}

/** The address of a service this one calls: <PREFIX>_<PEER>_ADDR, default 127.0.0.1:<the peer's default gRPC port>. */
export function peerAddrEnv(prefix: string, peer: BackendService): EnvVar<string> {
  return env.str(`${prefix}_${peer.toUpperCase()}_ADDR`, { default: `127.0.0.1:${DEFAULT_GRPC_PORTS[peer]}` });
}

/** Kafka topic / consumer-group name under the namespace. */
export function nsTopic(namespace: string, name: string): string {
  return namespace ? `${namespace}.${name}` : name;
}

/** Redis key / channel under the namespace. */
export function nsKey(namespace: string, key: string): string {
  return namespace ? `${namespace}:${key}` : key;
}
