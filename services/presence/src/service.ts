// The presence service. Status: a skeleton. It serves gRPC health, readiness (Redis and Kafka answer),
// metrics and graceful shutdown, and registers PresenceService with no handlers yet: every presence,
// typing and settings call answers `unavailable` until the presence capability is built.
import {
  createGrpcServer,
  createKafka,
  createLogger,
  createMetrics,
  createRedis,
  checks,
  kafkaCheck,
  once,
  readinessMonitor,
  startOpsServer,
  type GrpcServer,
  type Logger,
  type OpsServer,
  type ReadinessMonitor,
} from '@parley/kit';
import { presenceV1 } from '@parley/proto';
import type { Redis } from 'ioredis';
import type { PresenceConfig } from './config.js';

export class PresenceService {
  private grpc?: GrpcServer;
  private ops?: OpsServer;
  private readiness?: ReadinessMonitor;
  readonly destroy: () => Promise<void>;

  private constructor(
    readonly cfg: PresenceConfig,
    readonly logger: Logger,
    private readonly redis: Redis,
    private readonly kafka: ReturnType<typeof createKafka>,
  ) {
    this.destroy = once(async () => {
      this.readiness?.drain();
      this.readiness?.stop();
      await this.grpc?.shutdown(10_000);
      await this.ops?.close();
      this.redis.disconnect();
    });
  }

  static async create(cfg: PresenceConfig, overrides: { logger?: Logger } = {}): Promise<PresenceService> {
    const logger = overrides.logger ?? createLogger('presence', cfg.logLevel);
    const redis = createRedis(cfg.redisUrl, { logger, name: 'presence' });
    const kafka = createKafka({ brokers: cfg.kafkaBrokers, clientId: 'presence', logger });
    return new PresenceService(cfg, logger, redis, kafka);
  }

  async start(): Promise<void> {
    const metrics = createMetrics('presence');
    this.grpc = createGrpcServer({ logger: this.logger, metrics });
    this.grpc.addService(presenceV1.PresenceService, {});
    const grpc = this.grpc;
    this.readiness = readinessMonitor({
      logger: this.logger,
      checks: { redis: checks.redis(this.redis), kafka: kafkaCheck(this.kafka) },
      onChange: (ready) => grpc.health.set('', ready ? 'SERVING' : 'NOT_SERVING'),
    });
    await this.grpc.listen(this.cfg.host, this.cfg.grpcPort);
    this.ops = await startOpsServer({ host: this.cfg.host, port: this.cfg.httpPort, logger: this.logger, registry: metrics.registry, readiness: this.readiness });
  }
}
