import { ConfigError, defineConfig, env, infraEnv, nsKey, nsTopic, parseDuration, type ConfigOf } from './config.js';

const spec = defineConfig({
  ...infraEnv.cassandra,
  ...infraEnv.redis,
  grpcPort: env.int('SESSION_GRPC_PORT', { default: 50051, min: 0, max: 65535 }),
  secret: env.str('SESSION_JWT_SECRET', { secret: true, minLength: 8 }),
  webhook: env.str('SESSION_WEBHOOK', { optional: true }),
  ttl: env.duration('SESSION_TTL', { default: '15m' }),
  debug: env.bool('SESSION_DEBUG', { default: false }),
  tags: env.list('SESSION_TAGS', { default: [] }),
  mode: env.enum('SESSION_MODE', ['a', 'b'], { default: 'a' }),
});
type Cfg = ConfigOf<typeof spec>;

describe('defineConfig', () => {
  it('fills defaults and converts types', () => {
    const cfg: Cfg = spec.parse({ SESSION_JWT_SECRET: 'abcdefghij' });
    expect(cfg.grpcPort).toBe(50051);
    expect(cfg.cassandraContactPoints).toEqual(['127.0.0.1:9142']);
    expect(cfg.redisUrl).toBe('redis://127.0.0.1:6390');
    expect(cfg.webhook).toBeUndefined();
    expect(cfg.ttl).toBe(15 * 60_000);
    expect(cfg.debug).toBe(false);
    expect(cfg.mode).toBe('a');
    // Types infer: these lines would not compile if they did not.
    const port: number = cfg.grpcPort;
    const hook: string | undefined = cfg.webhook;
    const mode: 'a' | 'b' = cfg.mode;
    expect([port, hook, mode]).toBeDefined();
  });

  it('reads every kind of value', () => {
    const cfg = spec.parse({
      SESSION_JWT_SECRET: 'abcdefghij',
      SESSION_GRPC_PORT: '0',
      SESSION_WEBHOOK: 'http://x',
      SESSION_TTL: '1500',
      SESSION_DEBUG: 'yes',
      SESSION_TAGS: ' a, ,b ,',
      SESSION_MODE: 'b',
      PARLEY_CASSANDRA_CONTACT_POINTS: 'c1:9042,c2:9042',
    });
    expect(cfg).toMatchObject({ grpcPort: 0, webhook: 'http://x', ttl: 1500, debug: true, tags: ['a', 'b'], mode: 'b' });
    expect(cfg.cassandraContactPoints).toEqual(['c1:9042', 'c2:9042']);
  });

  it('names every bad or missing variable in one error', () => {
    let err: unknown;
    try {
      spec.parse({ SESSION_GRPC_PORT: '70000', SESSION_DEBUG: 'maybe', SESSION_MODE: 'c', SESSION_TTL: 'soon', PARLEY_REDIS_URL: 'not a url' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const e = err as ConfigError;
    expect(e.variables.sort()).toEqual(['PARLEY_REDIS_URL', 'SESSION_DEBUG', 'SESSION_GRPC_PORT', 'SESSION_JWT_SECRET', 'SESSION_MODE', 'SESSION_TTL'].sort());
    for (const v of e.variables) expect(e.message).toContain(v);
    expect(e.message).toContain('SESSION_JWT_SECRET is required');
    expect(e.message).toContain('<= 65535');
  });

  it('never echoes a secret value', () => {
    expect(() => spec.parse({ SESSION_JWT_SECRET: 'short' })).toThrow(/SESSION_JWT_SECRET is invalid/);
    expect(() => spec.parse({ SESSION_JWT_SECRET: 'short' })).not.toThrow(/short/);
  });

  it('rejects non-integers and unsafe integers', () => {
    const s = defineConfig({ n: env.int('N') });
    expect(() => s.parse({ N: '1.5' })).toThrow(/N must be an integer/);
    expect(() => s.parse({ N: '99999999999999999999' })).toThrow(/N is out of range/);
    expect(s.parse({ N: ' 42 ' }).n).toBe(42);
  });

  it('treats empty and blank strings as unset', () => {
    const s = defineConfig({ a: env.str('A', { default: 'd' }), b: env.int('B', { optional: true }) });
    expect(s.parse({ A: '', B: '  ' })).toEqual({ a: 'd', b: undefined });
  });

  it('lists the variables it reads, once each', () => {
    expect(spec.names).toContain('SESSION_GRPC_PORT');
    expect(spec.names).toContain('PARLEY_CASSANDRA_KEYSPACE');
    expect(spec.names).not.toContain('PARLEY_KAFKA_BROKERS');
    expect(new Set(spec.names).size).toBe(spec.names.length);
  });
});

describe('parseDuration', () => {
  it.each([
    ['250', 250],
    ['250ms', 250],
    ['5s', 5000],
    ['1.5s', 1500],
    ['2m', 120_000],
    ['1h', 3_600_000],
    ['7d', 7 * 86_400_000],
  ])('%s → %d ms', (raw, ms) => expect(parseDuration(raw)).toBe(ms));

  it('rejects garbage', () => {
    expect(() => parseDuration('5 weeks')).toThrow();
    expect(() => parseDuration('-1s')).toThrow();
  });
});

describe('infraEnv', () => {
  it('covers the shared variables of docs/architecture.md', () => {
    const all = defineConfig({ ...infraEnv.cassandra, ...infraEnv.kafka, ...infraEnv.redis, ...infraEnv.minio, ...infraEnv.common });
    for (const v of [
      'PARLEY_CASSANDRA_CONTACT_POINTS',
      'PARLEY_CASSANDRA_DATACENTER',
      'PARLEY_CASSANDRA_KEYSPACE',
      'PARLEY_CASSANDRA_REPLICATION',
      'PARLEY_KAFKA_BROKERS',
      'PARLEY_REDIS_URL',
      'PARLEY_MINIO_ENDPOINT',
      'PARLEY_MINIO_ACCESS_KEY',
      'PARLEY_MINIO_SECRET_KEY',
      'PARLEY_MINIO_BUCKET',
      'PARLEY_LOG_LEVEL',
    ]) {
      expect(all.names).toContain(v);
    }
    const cfg = all.parse({});
    expect(cfg).toMatchObject({ cassandraKeyspace: 'parley', cassandraDatacenter: 'datacenter1', kafkaBrokers: ['127.0.0.1:9192'], minioBucket: 'media', logLevel: 'info', namespace: '' });
    expect(() => all.parse({ PARLEY_LOG_LEVEL: 'loud' })).toThrow(/PARLEY_LOG_LEVEL must be one of/);
  });

  it('namespaces topics and keys', () => {
    expect(nsTopic('', 'chat.messages.v1')).toBe('chat.messages.v1');
    expect(nsTopic('e2e1', 'chat.messages.v1')).toBe('e2e1.chat.messages.v1');
    expect(nsKey('', 'parley:conn:d')).toBe('parley:conn:d');
    expect(nsKey('e2e1', 'parley:conn:d')).toBe('e2e1:parley:conn:d');
  });
});

describe('defineConfig with nested groups', () => {
  const nested = defineConfig({
    port: env.int('X_PORT', { default: 1 }),
    rates: {
      send: { perMinute: env.int('X_RATE_SEND_PER_MINUTE', { default: 60, min: 0 }), burst: env.int('X_RATE_SEND_BURST', { default: 10, min: 1 }) },
      read: { perMinute: env.int('X_RATE_READ_PER_MINUTE', { default: 600, min: 0 }), burst: env.int('X_RATE_READ_BURST', { default: 100, min: 1 }) },
    },
  });

  it('parses into the nested shape, typed', () => {
    const cfg = nested.parse({ X_RATE_READ_BURST: '7' });
    const burst: number = cfg.rates.read.burst;
    expect(burst).toBe(7);
    expect(cfg).toEqual({ port: 1, rates: { send: { perMinute: 60, burst: 10 }, read: { perMinute: 600, burst: 7 } } });
  });

  it('lists every variable flat (names, and vars keyed by path) and names each bad one', () => {
    expect(nested.names).toEqual(['X_PORT', 'X_RATE_SEND_PER_MINUTE', 'X_RATE_SEND_BURST', 'X_RATE_READ_PER_MINUTE', 'X_RATE_READ_BURST']);
    expect(Object.keys(nested.vars)).toEqual(['port', 'rates.send.perMinute', 'rates.send.burst', 'rates.read.perMinute', 'rates.read.burst']);
    expect(nested.vars['rates.send.burst']!.name).toBe('X_RATE_SEND_BURST');
    expect(() => nested.parse({ X_RATE_SEND_BURST: '0', X_RATE_READ_PER_MINUTE: 'x' })).toThrow(ConfigError);
    try {
      nested.parse({ X_RATE_SEND_BURST: '0', X_RATE_READ_PER_MINUTE: 'x' });
    } catch (e) {
      expect((e as ConfigError).variables).toEqual(['X_RATE_SEND_BURST', 'X_RATE_READ_PER_MINUTE']);
    }
  });
});
