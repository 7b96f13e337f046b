// The session service: accounts, devices, tokens and the live connection registry.
import {
  EventProducer,
  cassandraSettings,
  checks,
  createCassandra,
  createGrpcServer,
  createKafka,
  createLogger,
  createMetrics,
  createRedis,
  loadMigrations,
  once,
  readinessMonitor,
  runMigrations,
  startOpsServer,
  type CassandraClient,
  type GrpcServer,
  type Logger,
  type Metrics,
  type OpsServer,
  type ReadinessMonitor,
  type Redis,
} from '@parley/kit';
import { sessionV1 } from '@parley/proto';
import type { SessionConfig } from './config.js';
import { KeySealer } from './domain/key-sealer.js';
import { KEY_RELOAD_MS } from './domain/keyring.js';
import { SessionManager } from './domain/session-manager.js';
import { TokenIssuer } from './domain/token-issuer.js';
import { AccountsStore } from './storage/accounts-store.js';
import { KeysStore } from './storage/keys-store.js';
import { SessionNotifier } from './storage/notifier.js';
import { ConnectionRegistry } from './storage/registry.js';
import { sessionServiceImpl } from './transport/grpc/session-service.js';

export interface SessionServiceOptions {
  migrationsDir: string;
  logger?: Logger;
}

export class SessionService {
  private grpc?: GrpcServer;
  private ops?: OpsServer;
  private readiness?: ReadinessMonitor;
  private keyTimer?: NodeJS.Timeout;
  grpcPort = 0;
  httpPort = 0;
  readonly destroy: () => Promise<void>;

  private constructor(
    readonly cfg: SessionConfig,
    readonly logger: Logger,
    private readonly metrics: Metrics,
    private readonly cassandra: CassandraClient,
    private readonly redis: Redis,
    private readonly producer: EventProducer,
    private readonly notifier: SessionNotifier,
    readonly manager: SessionManager,
    readonly issuer: TokenIssuer,
  ) {
    this.destroy = once(async () => {
      if (this.keyTimer) clearInterval(this.keyTimer);
      this.readiness?.drain();
      this.readiness?.stop();
      await this.grpc?.shutdown(10_000);
      await this.ops?.close();
      await this.notifier.flush(5_000);
      await this.producer.disconnect().catch(() => {});
      this.redis.disconnect();
      await this.cassandra.shutdown();
    });
  }

  static async migrate(cfg: SessionConfig, migrationsDir: string, logger: Logger): Promise<void> {
    await runMigrations({ settings: cassandraSettings(cfg), service: 'session', migrations: loadMigrations(migrationsDir), logger });
  }

  static async create(cfg: SessionConfig, opts: SessionServiceOptions): Promise<SessionService> {
    if ((cfg.scryptCost & (cfg.scryptCost - 1)) !== 0) throw new Error(`SESSION_SCRYPT_COST must be a power of two, got ${cfg.scryptCost}`);
    const logger = opts.logger ?? createLogger('session', cfg.logLevel);
    await SessionService.migrate(cfg, opts.migrationsDir, logger);
    const metrics = createMetrics('session');
    const outcomes = metrics.counter('parley_session_outcomes_total', 'Account, login, refresh and device outcomes', ['outcome']);
    const events = metrics.counter('parley_session_events_published_total', 'session.events.v1 publications', ['result']);
    const rotations = metrics.counter('parley_session_key_rotations_total', 'Signing keys this replica made current');

    const cassandra = createCassandra(cassandraSettings(cfg));
    const redis = createRedis(cfg.redisUrl, { logger, name: 'session' });
    const kafka = createKafka({ brokers: cfg.kafkaBrokers, clientId: 'session', logger });
    const producer = new EventProducer(kafka, logger);
    const registry = new ConnectionRegistry(redis, cfg.namespace);
    const issuer = new TokenIssuer(new KeysStore(cassandra), {
      issuer: cfg.jwtIssuer,
      audience: cfg.jwtAudience,
      accessTtlSeconds: cfg.accessTokenTtlSeconds,
      rotationMs: cfg.keyRotationHours * 3_600_000,
      sealer: new KeySealer(cfg.signingKeySecret),
      onRotated: (kid) => {
        rotations.inc();
        logger.info({ kid }, 'signing key rotated');
      },
    });
    const notifier = new SessionNotifier(registry, kafka, producer, logger.child({ subsystem: 'events' }), {
      namespace: cfg.namespace,
      partitions: cfg.kafkaTopicPartitions,
      replicationFactor: cfg.kafkaReplicationFactor,
      onEventResult: (ok) => events.inc({ result: ok ? 'ok' : 'failed' }),
    });
    const manager = new SessionManager(new AccountsStore(cassandra), registry, issuer, notifier, {
      refreshTtlMs: cfg.refreshTokenTtlDays * 86_400_000,
      connectionTtlSeconds: cfg.connectionTtlSeconds,
      scryptCost: cfg.scryptCost,
      observe: (outcome) => outcomes.inc({ outcome }),
    });
    return new SessionService(cfg, logger, metrics, cassandra, redis, producer, notifier, manager, issuer);
  }

  async start(): Promise<void> {
    // The first replica creates the signing key (LWT); the others load it.
    await this.issuer.refresh();
    this.keyTimer = setInterval(() => {
      this.issuer.refresh().catch((err: unknown) => this.logger.warn({ err }, 'signing key refresh failed'));
    }, KEY_RELOAD_MS);
    this.keyTimer.unref();
    // Kafka is not a readiness condition: session events are best effort, logins must keep working.
    void this.notifier.ensureTopic();
    this.grpc = createGrpcServer({ logger: this.logger, metrics: this.metrics });
    this.grpc.addService(sessionV1.SessionService, sessionServiceImpl(this.manager, this.issuer, { issuer: this.cfg.jwtIssuer, audience: this.cfg.jwtAudience }));
    const grpc = this.grpc;
    this.readiness = readinessMonitor({
      logger: this.logger,
      checks: { cassandra: checks.cassandra(this.cassandra), redis: checks.redis(this.redis) },
      onChange: (ready) => grpc.health.set('', ready ? 'SERVING' : 'NOT_SERVING'),
    });
    this.grpcPort = await this.grpc.listen(this.cfg.host, this.cfg.grpcPort);
    this.ops = await startOpsServer({ host: this.cfg.host, port: this.cfg.httpPort, logger: this.logger, registry: this.metrics.registry, readiness: this.readiness });
    this.httpPort = this.ops.port;
  }
}
