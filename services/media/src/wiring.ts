// The media service (protocol.md §7): presigned uploads bound to the declaration, verification on complete,
// download authorization from the recorded media → chat links, ResolveAttachments for message.send,
// thumbnails (sharp, bounded) and the sweeper of uploads never completed. Bytes never pass through here,
// except an image's bytes on their way into the thumbnailer.
import {
  checks,
  createGrpcServer,
  createLogger,
  createMetrics,
  createObjectStore,
  keyspaceMigrator,
  Lifecycle,
  LifecycleService,
  nsTopic,
  openCassandra,
  openKafka,
  TOPICS,
  type ConsumerHandle,
  type Kafka,
  type Logger,
  type ObjectStore,
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

export class MediaService extends LifecycleService {
  private links?: ConsumerHandle;
  private sweepTimer?: NodeJS.Timeout;

  private constructor(
    readonly cfg: MediaConfig,
    readonly logger: Logger,
    readonly manager: MediaManager,
    private readonly kafka: Kafka,
    readonly store: ObjectStore,
    readonly life: Lifecycle,
  ) {
    super();
  }

  private async startLinksWhenTopicExists(): Promise<void> {
    const topic = nsTopic(this.cfg.namespace, TOPICS.chatMedia);
    for (let attempt = 0; !this.life.stopped; attempt++) {
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
          if (this.life.stopped) await this.links.stop().catch(() => {});
          return;
        }
        if (attempt % 30 === 5) this.logger.warn({ topic }, 'waiting for the message service to create the topic');
      } catch (err) {
        this.logger.warn({ err }, 'starting the media-links consumer failed; retrying');
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  }

  private startSweeper(): void {
    let running = false;
    this.sweepTimer = setInterval(() => {
      if (running) return;
      running = true;
      this.manager
        .sweepOnce()
        .then((r) => r.expired > 0 && this.logger.info(r, 'expired uploads swept'))
        .catch((err: unknown) => this.logger.warn({ err }, 'media sweep failed'))
        .finally(() => (running = false));
    }, this.cfg.sweepIntervalMs);
    this.sweepTimer.unref();
  }

  static readonly migrate = keyspaceMigrator('media');

  static async create(cfg: MediaConfig, opts: MediaServiceOverrides): Promise<MediaService> {
    const logger = opts.logger ?? createLogger('media', cfg.logLevel);
    const host = opts.host ?? cfg.host;
    await MediaService.migrate(cfg, opts.migrationsDir, logger);
    const store = createObjectStore({
      endpoint: cfg.minioEndpoint,
      accessKey: cfg.minioAccessKey,
      secretKey: cfg.minioSecretKey,
      bucket: cfg.minioBucket,
      publicEndpoint: cfg.minioPublicEndpoint,
    });
    await store.ensureBucket();
    const cassandra = openCassandra(cfg);
    await cassandra.connect();
    const kafka = openKafka(cfg, 'media', logger);
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
    const metrics = createMetrics('media');
    const grpc = createGrpcServer({ logger, metrics });
    grpc.addService(mediaV1.MediaService, mediaServiceImpl(manager));

    const life = new Lifecycle({
      name: 'media',
      logger,
      grpc,
      checks: {
        cassandra: checks.cassandra(cassandra),
        minio: checks.objectStore(store),
        kafka: checks.kafka(kafka),
        // Downloads of just-sent media need the links: not ready until the consumer runs (once).
        links: async () => {
          if (!svc.links) throw new Error('media-links consumer not started (waiting for chat.media.v1)');
        },
      },
    });
    const svc = new MediaService(cfg, logger, manager, kafka, store, life);
    life
      .startReadiness()
      .listenGrpc(host, cfg.grpcPort)
      .serveOps(host, cfg.httpPort, metrics.registry)
      // The message service creates chat.media.v1 (topics); media only consumes it. Creating it here too
      // raced message's own creation at start (and subscribing to a missing topic could auto-create it with
      // the broker's default partitions), so the consumer starts once the topic exists, in the background.
      .onStart('links consumer', () => void svc.startLinksWhenTopicExists())
      .onStart('sweeper', () => {
        if (opts.sweeper !== false) svc.startSweeper();
      });
    life
      .onStop('sweeper', () => svc.sweepTimer && clearInterval(svc.sweepTimer))
      .stopGrpc()
      .onStop('links consumer', () => svc.links?.stop().catch(() => {}))
      .stopOps()
      .onStop('peers', () => group?.close())
      .onStop('cassandra', () => cassandra.shutdown());
    return svc;
  }
}
