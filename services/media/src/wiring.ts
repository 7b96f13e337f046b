// The media service (protocol.md §7): presigned uploads bound to the declaration, verification on complete,
// download authorization from the recorded media → chat links, ResolveAttachments for message.send,
// thumbnails (sharp, bounded) and the sweeper of uploads never completed. Bytes never pass through here,
// except an image's bytes on their way into the thumbnailer.
import {
  cassandraSettings,
  checks,
  createCassandra,
  createGrpcServer,
  createKafka,
  createLogger,
  createMetrics,
  createObjectStore,
  kafkaCheck,
  loadMigrations,
  nsTopic,
  once,
  readinessMonitor,
  runMigrations,
  startOpsServer,
  TOPICS,
  type CassandraClient,
  type ConsumerHandle,
  type GrpcServer,
  type Kafka,
  type Logger,
  type ObjectStore,
  type OpsServer,
  type ReadinessMonitor,
} from '@parley/kit';
import { mediaV1 } from '@parley/proto';
import type { MediaConfig } from './config.js';
import { MediaManager } from './domain/media-manager.js';
import type { MembersPort, ThumbnailPort } from './domain/ports.js';
import { MediaStore } from './adapters/media-store.js';
import { createThumbnailer } from './adapters/thumbnailer.js';
import { mediaServiceImpl } from './api/grpc/media-service.js';
import { GroupPeer } from './adapters/peers.js';
import { startLinksConsumer } from './api/kafka/links-consumer.js';

export interface MediaServiceOverrides {
  migrationsDir: string;
  logger?: Logger;
  members?: MembersPort;
  thumbnails?: ThumbnailPort;
  host?: string;
  /** Run the sweeper on its timer (default true). */
  sweeper?: boolean;
}

export class MediaService {
  grpcPort = 0;
  httpPort = 0;
  private grpc?: GrpcServer;
  private ops?: OpsServer;
  private readiness?: ReadinessMonitor;
  private links?: ConsumerHandle;
  private sweepTimer?: NodeJS.Timeout;
  private stopping = false;
  readonly destroy: () => Promise<void>;

  private constructor(
    readonly cfg: MediaConfig,
    readonly logger: Logger,
    readonly manager: MediaManager,
    private readonly cassandra: CassandraClient,
    private readonly kafka: Kafka,
    readonly store: ObjectStore,
    private readonly group: GroupPeer | undefined,
    private readonly opts: MediaServiceOverrides,
  ) {
    this.destroy = once(async () => {
      this.stopping = true;
      this.readiness?.drain();
      this.readiness?.stop();
      if (this.sweepTimer) clearInterval(this.sweepTimer);
      await this.grpc?.shutdown(10_000);
      await this.links?.stop().catch(() => {});
      await this.ops?.close();
      this.group?.close();
      await this.cassandra.shutdown();
    });
  }

  private async startLinksWhenTopicExists(): Promise<void> {
    const topic = nsTopic(this.cfg.namespace, TOPICS.chatMessages);
    for (let attempt = 0; !this.stopping; attempt++) {
      try {
        const admin = this.kafka.admin();
        await admin.connect();
        let exists = false;
        try {
          exists = (await admin.listTopics()).includes(topic);
        } finally {
          await admin.disconnect();
        }
        if (exists) {
          this.links = await startLinksConsumer({ kafka: this.kafka, namespace: this.cfg.namespace, partitions: this.cfg.kafkaTopicPartitions, logger: this.logger, mgr: this.manager });
          if (this.stopping) await this.links.stop().catch(() => {});
          return;
        }
        if (attempt % 30 === 5) this.logger.warn({ topic }, 'waiting for the message service to create the topic');
      } catch (err) {
        this.logger.warn({ err }, 'starting the media-links consumer failed; retrying');
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  }

  static async migrate(cfg: MediaConfig, migrationsDir: string, logger: Logger): Promise<void> {
    await runMigrations({ settings: cassandraSettings(cfg), service: 'media', migrations: loadMigrations(migrationsDir), logger });
  }

  static async create(cfg: MediaConfig, opts: MediaServiceOverrides): Promise<MediaService> {
    const logger = opts.logger ?? createLogger('media', cfg.logLevel);
    await MediaService.migrate(cfg, opts.migrationsDir, logger);
    const store = createObjectStore({
      endpoint: cfg.minioEndpoint,
      accessKey: cfg.minioAccessKey,
      secretKey: cfg.minioSecretKey,
      bucket: cfg.minioBucket,
      publicEndpoint: cfg.minioPublicEndpoint,
    });
    await store.ensureBucket();
    const cassandra = createCassandra(cassandraSettings(cfg));
    await cassandra.connect();
    const kafka = createKafka({ brokers: cfg.kafkaBrokers, clientId: 'media', logger });
    const group = opts.members ? undefined : GroupPeer.connect(cfg.groupAddr);
    const manager = new MediaManager({
      rows: new MediaStore(cassandra),
      blobs: store,
      members: opts.members ?? group!,
      thumbnails:
        opts.thumbnails ?? createThumbnailer({ maxPixels: cfg.thumbnailMaxPixels, size: cfg.thumbnailSize, timeoutSeconds: cfg.thumbnailTimeoutSeconds }),
      allowedContentTypes: cfg.allowedContentTypes,
      maxUploadBytes: cfg.maxUploadBytes,
      uploadUrlTtlSeconds: cfg.uploadUrlTtlSeconds,
      downloadUrlTtlSeconds: cfg.downloadUrlTtlSeconds,
      pendingTtlMs: cfg.pendingTtlMs,
      thumbnailMaxInputBytes: cfg.thumbnailMaxInputBytes,
      thumbnailConcurrency: cfg.thumbnailConcurrency,
      linkWaitMs: cfg.linkWaitMs,
      onError: (msg, err, mediaId) => logger.warn({ err, mediaId }, msg),
    });
    return new MediaService(cfg, logger, manager, cassandra, kafka, store, group, opts);
  }

  async start(): Promise<void> {
    const cfg = this.cfg;
    const metrics = createMetrics('media');
    this.grpc = createGrpcServer({ logger: this.logger, metrics });
    this.grpc.addService(mediaV1.MediaService, mediaServiceImpl(this.manager));
    const grpc = this.grpc;
    this.readiness = readinessMonitor({
      logger: this.logger,
      checks: {
        cassandra: checks.cassandra(this.cassandra),
        minio: checks.objectStore(this.store),
        kafka: kafkaCheck(this.kafka),
        // Downloads of just-sent media need the links: not ready until the consumer runs (once).
        links: async () => {
          if (!this.links) throw new Error('media-links consumer not started (waiting for chat.messages.v1)');
        },
      },
      onChange: (ready) => grpc.health.set('', ready ? 'SERVING' : 'NOT_SERVING'),
    });
    const host = this.opts.host ?? cfg.host;
    this.grpcPort = await this.grpc.listen(host, cfg.grpcPort);
    this.ops = await startOpsServer({ host, port: cfg.httpPort, logger: this.logger, registry: metrics.registry, readiness: this.readiness });
    this.httpPort = this.ops.port;
    // The message service creates the topic too; whoever starts first wins (idempotent).
    // The message service creates chat.messages.v1 (topics); media only consumes it. Creating it here too
    // raced message's own creation at start (and subscribing to a missing topic could auto-create it with
    // the broker's default partitions), so the consumer starts once the topic exists, in the background.
    void this.startLinksWhenTopicExists();
    if (this.opts.sweeper !== false) {
      let running = false;
      this.sweepTimer = setInterval(() => {
        if (running) return;
        running = true;
        this.manager
          .sweepOnce()
          .then((r) => r.expired > 0 && this.logger.info(r, 'expired uploads swept'))
          .catch((err: unknown) => this.logger.warn({ err }, 'media sweep failed'))
          .finally(() => (running = false));
      }, cfg.sweepIntervalMs);
      this.sweepTimer.unref();
    }
    const state = await this.readiness.refresh();
    grpc.health.set('', state.ready ? 'SERVING' : 'NOT_SERVING');
  }
}
