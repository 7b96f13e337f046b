// The media service. Status: a skeleton. It applies its Cassandra migrations, makes sure the MinIO bucket
// exists, serves gRPC health, readiness (Cassandra and MinIO answer), metrics and graceful shutdown, and
// registers MediaService with no handlers yet: every media call answers `unavailable` until the media
// capability (presigned upload, verification, thumbnails, access checks) is built.
import {
  cassandraSettings,
  checks,
  createCassandra,
  createGrpcServer,
  createLogger,
  createMetrics,
  createObjectStore,
  loadMigrations,
  once,
  readinessMonitor,
  runMigrations,
  startOpsServer,
  type CassandraClient,
  type GrpcServer,
  type Logger,
  type ObjectStore,
  type OpsServer,
  type ReadinessMonitor,
} from '@parley/kit';
import { mediaV1 } from '@parley/proto';
import type { MediaConfig } from './config.js';

export class MediaService {
  private grpc?: GrpcServer;
  private ops?: OpsServer;
  private readiness?: ReadinessMonitor;
  readonly destroy: () => Promise<void>;

  private constructor(
    readonly cfg: MediaConfig,
    readonly logger: Logger,
    private readonly cassandra: CassandraClient,
    private readonly store: ObjectStore,
  ) {
    this.destroy = once(async () => {
      this.readiness?.drain();
      this.readiness?.stop();
      await this.grpc?.shutdown(10_000);
      await this.ops?.close();
      await this.cassandra.shutdown();
    });
  }

  static async migrate(cfg: MediaConfig, migrationsDir: string, logger: Logger): Promise<void> {
    await runMigrations({ settings: cassandraSettings(cfg), service: 'media', migrations: loadMigrations(migrationsDir), logger });
  }

  static async create(cfg: MediaConfig, opts: { migrationsDir: string; logger?: Logger }): Promise<MediaService> {
    const logger = opts.logger ?? createLogger('media', cfg.logLevel);
    await MediaService.migrate(cfg, opts.migrationsDir, logger);
    const store = createObjectStore({ endpoint: cfg.minioEndpoint, accessKey: cfg.minioAccessKey, secretKey: cfg.minioSecretKey, bucket: cfg.minioBucket });
    await store.ensureBucket();
    return new MediaService(cfg, logger, createCassandra(cassandraSettings(cfg)), store);
  }

  async start(): Promise<void> {
    const metrics = createMetrics('media');
    this.grpc = createGrpcServer({ logger: this.logger, metrics });
    this.grpc.addService(mediaV1.MediaService, {});
    const grpc = this.grpc;
    this.readiness = readinessMonitor({
      logger: this.logger,
      checks: { cassandra: checks.cassandra(this.cassandra), minio: checks.objectStore(this.store) },
      onChange: (ready) => grpc.health.set('', ready ? 'SERVING' : 'NOT_SERVING'),
    });
    await this.grpc.listen(this.cfg.host, this.cfg.grpcPort);
    this.ops = await startOpsServer({ host: this.cfg.host, port: this.cfg.httpPort, logger: this.logger, registry: metrics.registry, readiness: this.readiness });
  }
}
