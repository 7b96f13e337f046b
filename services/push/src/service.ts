// The push service. Status: a skeleton. It applies its Cassandra migrations, serves gRPC health, readiness
// (Cassandra and Kafka answer), metrics and graceful shutdown, and registers PushService with no handlers
// yet: `push.register` answers `unavailable`, and nothing consumes `push.requests.v1` yet, until the push
// capability (registrations, FCM/APNs/Web Push/webhook senders, retries) is built.
import {
  cassandraSettings,
  checks,
  createCassandra,
  createGrpcServer,
  createKafka,
  createLogger,
  createMetrics,
  kafkaCheck,
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
} from '@parley/kit';
import { pushV1 } from '@parley/proto';
import type { PushConfig } from './config.js';

export class PushService {
  private grpc?: GrpcServer;
  private ops?: OpsServer;
  private readiness?: ReadinessMonitor;
  readonly destroy: () => Promise<void>;

  private constructor(
    readonly cfg: PushConfig,
    readonly logger: Logger,
    private readonly cassandra: CassandraClient,
    private readonly kafka: ReturnType<typeof createKafka>,
  ) {
    this.destroy = once(async () => {
      this.readiness?.drain();
      this.readiness?.stop();
      await this.grpc?.shutdown(10_000);
      await this.ops?.close();
      await this.cassandra.shutdown();
    });
  }

  static async migrate(cfg: PushConfig, migrationsDir: string, logger: Logger): Promise<void> {
    await runMigrations({ settings: cassandraSettings(cfg), service: 'push', migrations: loadMigrations(migrationsDir), logger });
  }

  static async create(cfg: PushConfig, opts: { migrationsDir: string; logger?: Logger }): Promise<PushService> {
    const logger = opts.logger ?? createLogger('push', cfg.logLevel);
    await PushService.migrate(cfg, opts.migrationsDir, logger);
    const kafka = createKafka({ brokers: cfg.kafkaBrokers, clientId: 'push', logger });
    return new PushService(cfg, logger, createCassandra(cassandraSettings(cfg)), kafka);
  }

  async start(): Promise<void> {
    const metrics = createMetrics('push');
    this.grpc = createGrpcServer({ logger: this.logger, metrics });
    this.grpc.addService(pushV1.PushService, {});
    const grpc = this.grpc;
    this.readiness = readinessMonitor({
      logger: this.logger,
      checks: { cassandra: checks.cassandra(this.cassandra), kafka: kafkaCheck(this.kafka) },
      onChange: (ready) => grpc.health.set('', ready ? 'SERVING' : 'NOT_SERVING'),
    });
    await this.grpc.listen(this.cfg.host, this.cfg.grpcPort);
    this.ops = await startOpsServer({ host: this.cfg.host, port: this.cfg.httpPort, logger: this.logger, registry: metrics.registry, readiness: this.readiness });
  }
}
