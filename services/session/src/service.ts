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
  type OpsServer,
  type ReadinessMonitor,
  type Redis,
} from '@parley/kit';
import { sessionV1 } from '@parley/proto';
import type { SessionConfig } from './config.js';
import { SessionManager } from './domain/session-manager.js';
import { TokenIssuer } from './domain/token-issuer.js';
import { AccountsStore } from './storage/accounts-store.js';
import { KeysStore } from './storage/keys-store.js';
import { SessionNotifier } from './storage/notifier.js';
import { ConnectionRegistry } from './storage/registry.js';
import { sessionServiceImpl } from './transport/grpc/session-service.js';

export class SessionService {
  private grpc?: GrpcServer;
  private ops?: OpsServer;
  private readiness?: ReadinessMonitor;
  private keyTimer?: NodeJS.Timeout;
  grpcPort = 0;
  readonly destroy: () => Promise<void>;

  private constructor(
    readonly cfg: SessionConfig,
    readonly logger: Logger,
    private readonly cassandra: CassandraClient,
    private readonly redis: Redis,
    private readonly producer: EventProducer,
    readonly manager: SessionManager,
    readonly issuer: TokenIssuer,
  ) {
    this.destroy = once(async () => {
      if (this.keyTimer) clearInterval(this.keyTimer);
      this.readiness?.drain();
      this.readiness?.stop();
      await this.grpc?.shutdown(10_000);
      await this.ops?.close();
      await this.producer.disconnect().catch(() => {});
      this.redis.disconnect();
      await this.cassandra.shutdown();
    });
  }

  static async migrate(cfg: SessionConfig, migrationsDir: string, logger: Logger): Promise<void> {
    await runMigrations({ settings: cassandraSettings(cfg), service: 'session', migrations: loadMigrations(migrationsDir), logger });
  }

  static async create(cfg: SessionConfig, opts: { migrationsDir: string; logger?: Logger }): Promise<SessionService> {
    const logger = opts.logger ?? createLogger('session', cfg.logLevel);
    await SessionService.migrate(cfg, opts.migrationsDir, logger);
    const cassandra = createCassandra(cassandraSettings(cfg));
    const redis = createRedis(cfg.redisUrl, { logger, name: 'session' });
    const producer = new EventProducer(createKafka({ brokers: cfg.kafkaBrokers, clientId: 'session', logger }), logger);
    const registry = new ConnectionRegistry(redis, cfg.namespace);
    const issuer = new TokenIssuer(new KeysStore(cassandra), {
      issuer: cfg.jwtIssuer,
      audience: cfg.jwtAudience,
      accessTtlSeconds: cfg.accessTokenTtlSeconds,
      rotationMs: cfg.keyRotationHours * 3_600_000,
    });
    const manager = new SessionManager(new AccountsStore(cassandra), registry, issuer, new SessionNotifier(registry, producer, cfg.namespace, logger), {
      refreshTtlMs: cfg.refreshTokenTtlDays * 86_400_000,
      connectionTtlSeconds: cfg.connectionTtlSeconds,
      scryptCost: cfg.scryptCost,
    });
    return new SessionService(cfg, logger, cassandra, redis, producer, manager, issuer);
  }

  async start(): Promise<void> {
    await this.issuer.refresh();
    this.keyTimer = setInterval(() => {
      this.issuer.refresh().catch((err: unknown) => this.logger.warn({ err }, 'signing key refresh failed'));
    }, 60_000);
    this.keyTimer.unref();
    const metrics = createMetrics('session');
    this.grpc = createGrpcServer({ logger: this.logger, metrics });
    this.grpc.addService(sessionV1.SessionService, sessionServiceImpl(this.manager, this.issuer, { issuer: this.cfg.jwtIssuer, audience: this.cfg.jwtAudience }));
    const grpc = this.grpc;
    // Kafka is not a readiness condition: session events are best effort, logins must keep working.
    this.readiness = readinessMonitor({
      logger: this.logger,
      checks: { cassandra: checks.cassandra(this.cassandra), redis: checks.redis(this.redis) },
      onChange: (ready) => grpc.health.set('', ready ? 'SERVING' : 'NOT_SERVING'),
    });
    this.grpcPort = await this.grpc.listen(this.cfg.host, this.cfg.grpcPort);
    this.ops = await startOpsServer({ host: this.cfg.host, port: this.cfg.httpPort, logger: this.logger, registry: metrics.registry, readiness: this.readiness });
  }
}
