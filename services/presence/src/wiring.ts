// The presence service: online / lastSeen and presence subscriptions, typing, privacy settings, and the
// receipts fan-out (consumer of chat.receipts.v1). Live presence is in Redis; settings, receipt watermarks
// and a copy of lastSeen are in Cassandra. Deliveries go through the gateways' Redis channels.
import {
  checks,
  createClient,
  createGrpcServer,
  createLogger,
  createMetrics,
  createRedis,
  ensureTopics,
  keyspaceMigrator,
  Lifecycle,
  LifecycleService,
  openCassandra,
  openKafka,
  TOPICS,
  topicSpecs,
  withBatchedMemberships,
  type CassandraClient,
  type ConsumerHandle,
  type Kafka,
  type Logger,
  type Metrics,
  type Redis,
} from '@parley/kit';
import { groupV1, messageV1, presenceV1 } from '@parley/proto';
import type { PresenceConfig } from './config.js';
import { ReceiptCoalescer } from './domain/coalescer.js';
import { Directory } from './domain/directory.js';
import { PresenceManager } from './domain/presence.js';
import { ReceiptRouter, SenderIndex } from './domain/receipts.js';
import { SettingsCache } from './domain/settings.js';
import type { Conn } from './domain/model.js';
import { TypingRelay } from './domain/typing.js';
import { DeliveryBus } from './adapters/delivery-bus.js';
import { LiveStore } from './adapters/live-store.js';
import { ReceiptLedger } from './adapters/receipt-ledger.js';
import { MarksStore, SettingsStore } from './adapters/settings-store.js';
import { presenceServiceImpl } from './api/grpc/presence-service.js';
import { startReceiptsConsumer } from './api/kafka/receipts-consumer.js';

const REPLAY_CONCURRENCY = 16;

export class PresenceService extends LifecycleService {
  private consumer?: ConsumerHandle;
  private timer?: NodeJS.Timeout;
  private sweeping = false;
  readonly life: Lifecycle;
  readonly presence: PresenceManager;
  readonly typing: TypingRelay;
  readonly settings: SettingsCache;
  readonly receipts: ReceiptRouter;
  private readonly coalescer: ReceiptCoalescer;
  /** The receipt's time at the message service (ack or read) → consumed / handled / published to a gateway. */
  private readonly receiptLatency: ReturnType<Metrics['histogram']>;
  private readonly group: ReturnType<typeof createClient<typeof groupV1.GroupService>>;
  private readonly message: ReturnType<typeof createClient<typeof messageV1.MessageService>>;

  private constructor(
    readonly cfg: PresenceConfig,
    readonly logger: Logger,
    private readonly metrics: Metrics,
    cassandra: CassandraClient,
    redis: Redis,
    private readonly kafka: Kafka,
  ) {
    super();
    this.receiptLatency = metrics.histogram('parley_presence_receipt_latency_seconds', 'receipt at the message service → this stage', ['stage']);
    const deliveries = metrics.counter('parley_presence_deliveries_total', 'GatewayDelivery publishes by payload', ['payload']);
    const live = new LiveStore(redis, cfg.namespace);
    const bus = new DeliveryBus(redis, cfg.namespace, (kind) => deliveries.inc({ payload: kind }));
    // ListMemberships (each connect's receipt replay) group-committed over ListMembershipsMany.
    this.group = withBatchedMemberships(createClient(groupV1.GroupService, cfg.groupAddr, { logger }));
    this.message = createClient(messageV1.MessageService, cfg.messageAddr, { logger });
    const store = new SettingsStore(cassandra);
    this.settings = new SettingsCache(store, cfg.settingsCacheMs);
    const directory = new Directory(this.group, { membersTtlMs: 5_000, contactTtlMs: 600_000, nonContactTtlMs: 5_000 });
    this.coalescer = new ReceiptCoalescer(
      (chatId, by) => this.receipts.flush(chatId, by),
      (err) => logger.warn({ err }, 'receipt frames not published'),
    );
    this.receipts = new ReceiptRouter(new MarksStore(cassandra), this.settings, directory, new SenderIndex(this.message), this.group, live, new ReceiptLedger(redis, cfg.namespace), bus, this.coalescer, logger, {
      windowMs: cfg.receiptWindowMs,
      onPublished: (ageMs) => this.receiptLatency.observe({ stage: 'published' }, Math.max(0, ageMs) / 1000),
    });
    // Replays run in the background, REPLAY_CONCURRENCY at a time (a heartbeat after an outage can re-create
    // thousands of connections at once); the ledger makes a late or repeated replay harmless.
    const queue: Conn[] = [];
    let running = 0;
    const pump = () => {
      while (running < REPLAY_CONCURRENCY && queue.length) {
        const c = queue.shift()!;
        running += 1;
        this.receipts
          .replay(c)
          .catch((err: unknown) => logger.warn({ err, deviceId: c.deviceId }, 'receipt replay failed'))
          .finally(() => {
            running -= 1;
            pump();
          });
      }
    };
    this.presence = new PresenceManager(live, this.settings, directory, store, bus, logger, { graceMs: cfg.graceMs, maxSubscriptions: cfg.maxSubscriptions }, (c) => {
      queue.push(c);
      pump();
    });
    this.typing = new TypingRelay(live, directory, bus, { ttlMs: cfg.typingTtlMs, maxMembers: cfg.typingMaxMembers });
    const grpc = createGrpcServer({ logger, metrics });
    grpc.addService(presenceV1.PresenceService, presenceServiceImpl({ presence: this.presence, typing: this.typing, settings: this.settings }));
    this.life = new Lifecycle({
      name: 'presence',
      logger,
      grpc,
      checks: { cassandra: checks.cassandra(cassandra), redis: checks.redis(redis), kafka: checks.kafka(kafka) },
    });
    this.life
      .startReadiness()
      .listenGrpc(cfg.host, cfg.grpcPort)
      .onStart('sweeper', () => {
        this.timer = setInterval(() => void this.sweep(), cfg.sweepMs);
        this.timer.unref();
      })
      .onStart('receipts consumer', () => this.startReceipts())
      .serveOps(cfg.host, cfg.httpPort, metrics.registry);
    this.life
      .onStop('sweeper', () => this.timer && clearInterval(this.timer))
      .onStop('receipts consumer', () => this.consumer?.stop().catch(() => {}))
      .stopGrpc()
      .onStop('receipt frames', () => this.coalescer.drain())
      .stopOps()
      .onStop('peers', () => {
        this.group.close();
        this.message.close();
      })
      .onStop('redis', () => redis.disconnect())
      .onStop('cassandra', () => cassandra.shutdown());
  }

  static readonly migrate = keyspaceMigrator('presence');

  static async create(cfg: PresenceConfig, opts: { migrationsDir: string; logger?: Logger }): Promise<PresenceService> {
    const logger = opts.logger ?? createLogger('presence', cfg.logLevel);
    await PresenceService.migrate(cfg, opts.migrationsDir, logger);
    const redis = createRedis(cfg.redisUrl, { logger, name: 'presence', autoPipelining: true });
    const kafka = openKafka(cfg, 'presence', logger);
    return new PresenceService(cfg, logger, createMetrics('presence'), openCassandra(cfg), redis, kafka);
  }


  private async startReceipts(): Promise<void> {
    if (!this.cfg.receiptsEnabled) return;
    await ensureTopics(this.kafka, topicSpecs(this.cfg, [TOPICS.chatReceipts]));
    const events = this.metrics.counter('parley_presence_receipt_events_total', 'chat.receipts.v1 events handled');
    const lag = this.receiptLatency;
    this.consumer = await startReceiptsConsumer({
      kafka: this.kafka,
      namespace: this.cfg.namespace,
      partitions: this.cfg.kafkaTopicPartitions,
      router: this.receipts,
      logger: this.logger,
      onEvent: (ev, startedAt) => {
        events.inc();
        const at = Number(ev.at);
        if (at > 0) {
          lag.observe({ stage: 'consumed' }, Math.max(0, startedAt - at) / 1000);
          lag.observe({ stage: 'handled' }, Math.max(0, Date.now() - at) / 1000);
        }
      },
    });
  }

  /** Expired connections, grace windows and lapsed typing; one sweep at a time per replica. */
  private async sweep(): Promise<void> {
    if (this.sweeping) return;
    this.sweeping = true;
    try {
      await this.presence.sweep();
      await this.typing.sweep();
    } catch (err) {
      this.logger.warn({ err }, 'presence sweep failed');
    } finally {
      this.sweeping = false;
    }
  }
}
