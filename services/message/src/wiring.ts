// MessageService: the message log, inbox and receipts over gRPC, plus the fan-out worker.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  checks,
  createAdmission,
  createClient,
  createGrpcServer,
  createLogger,
  createMetrics,
  createRedis,
  ensureTopics,
  EventProducer,
  GatewayDeliveries,
  keyspaceMigrator,
  Lifecycle,
  LifecycleService,
  openCassandra,
  openKafka,
  TOPICS,
  topicSpecs,
  type Admission,
  type Client,
  type ConsumerHandle,
  type Kafka,
  type Logger,
} from '@parley/kit';
import { messageV1 } from '@parley/proto';
import type { MessageConfig } from './config.js';
import { messageMetrics, type MessageMetrics } from './metrics.js';
import type { GroupPort, MediaPort, RoutesPort, DedupeStore, HeadsStore } from './domain/ports.js';
import { MessagesStore } from './adapters/messages-store.js';
import { CursorTable, DedupeTable } from './adapters/inbox-store.js';
import { ChatEvents } from './adapters/chat-events.js';
import { FanoutDelivery } from './adapters/delivery-bus.js';
import { GroupPeer, MediaPeer, RegistryRoutes, SessionPeer } from './adapters/peers.js';
import { Republisher } from './domain/republisher.js';
import { messageServiceImpl, FORWARDED, type Forwarder } from './api/grpc/message-service.js';
import { CassandraLeaseStore } from './adapters/shard-lease-store.js';
import { startFanoutWorker } from './api/kafka/chat-messages-consumer.js';
import { randomUUID, randomBytes } from 'node:crypto';
import { ChatSequencer } from './domain/chat-sequencer.js';
import { SendAuthorizer } from './domain/authorizer.js';
import { MessageSender } from './domain/message-sender.js';
import { InboxManager } from './domain/inbox.js';
import { ChatReader } from './domain/history.js';
import { FanoutRouter } from './domain/fanout-router.js';
import { ShardLeases, type LeaseStore } from './domain/shard-leases.js';

export interface MessageServiceOverrides {
  logger?: Logger;
  /** Folder of the CQL migrations (main.ts passes the packaged one). */
  migrationsDir?: string;
  groups?: GroupPort;
  routes?: RoutesPort;
  media?: MediaPort;
  /** Host to bind (default 0.0.0.0). */
  host?: string;
}

export const MESSAGE_TOPICS = [TOPICS.chatMessages, TOPICS.chatMedia, TOPICS.chatReceipts, TOPICS.sessionEvents, TOPICS.pushRequests];

export function defaultMigrationsDir(): string {
  const candidates = [join(process.cwd(), 'migrations'), join(process.cwd(), 'services', 'message', 'migrations')];
  return candidates.find((d) => existsSync(join(d, '001_message_log.cql'))) ?? candidates[0]!;
}

/** Creates chat.messages.v1, chat.media.v1, chat.receipts.v1, session.events.v1, push.requests.v1 and their .dlq twins. */
export async function createTopics(cfg: MessageConfig, kafka: Kafka): Promise<string[]> {
  return ensureTopics(kafka, topicSpecs(cfg, MESSAGE_TOPICS));
}

export class MessageService extends LifecycleService {
  private fanout: ConsumerHandle | undefined;

  private constructor(
    readonly ctx: AppContext,
    readonly life: Lifecycle,
  ) {
    super();
  }

  static readonly migrate = keyspaceMigrator('message');

  static async create(cfg: MessageConfig, overrides: MessageServiceOverrides = {}): Promise<MessageService> {
    const logger = overrides.logger ?? createLogger('message', cfg.logLevel);
    const host = overrides.host ?? cfg.host;
    const metrics = createMetrics('message');
    await MessageService.migrate(cfg, overrides.migrationsDir ?? defaultMigrationsDir(), logger);
    const cassandra = openCassandra(cfg);
    await cassandra.connect();
    const kafka = openKafka(cfg, 'message', logger);
    const producer = new EventProducer(kafka, logger);
    const redis = createRedis(cfg.redisUrl, { logger, name: 'message', autoPipelining: true });
    const peers: Array<{ close(): void }> = [];
    const groups = overrides.groups ?? (peers[peers.length] = GroupPeer.connect(cfg.groupAddr)) as GroupPeer;
    const media = overrides.media ?? (peers[peers.length] = MediaPeer.connect(cfg.mediaAddr)) as MediaPeer;
    const mm = messageMetrics(metrics);
    // Fan-out reads session's route registry in Redis directly; session answers only for users whose device set
    // is not cached (docs/architecture.md §4).
    const routes =
      overrides.routes ??
      new RegistryRoutes(redis, cfg.namespace, (peers[peers.length] = SessionPeer.connect(cfg.sessionAddr)) as SessionPeer, 4096, (warm, missed) => {
        if (warm) mm.routeUsers.inc({ source: 'registry' }, warm);
        if (missed) mm.routeUsers.inc({ source: 'session' }, missed);
      });
    const flushed = (store: string) => (writers: number) => mm.combinedWriters.observe({ store }, writers);
    const log = new MessagesStore(cassandra, cfg.bucketSize, cfg.recentMessagesCacheSize, flushed('log'));
    const ctx = buildContext(cfg, logger, mm, {
      log,
      dedupe: new DedupeTable(cassandra),
      cursors: new CursorTable(cassandra, cfg.cursorCacheSize, flushed('cursors')),
      events: new ChatEvents(producer, cfg.namespace),
      delivery: new GatewayDeliveries(redis, cfg.namespace),
      groups,
      routes,
      media,
      leases: new CassandraLeaseStore(cassandra),
    });
    // Sends for a chat whose shard another replica holds go there (one hop, marked so it never loops).
    const forwardClients = new Map<string, Client<typeof messageV1.MessageService>>();
    peers.push({ close: () => forwardClients.forEach((c) => c.close()) });
    const holder = (addr: string) => {
      let c = forwardClients.get(addr);
      if (!c) forwardClients.set(addr, (c = createClient(messageV1.MessageService, addr, { deadlineMs: 5000 })));
      return c;
    };
    const forwarder: Forwarder = {
      send: (addr, req) => holder(addr).sendMessage(req, { metadata: { [FORWARDED]: '1' } }),
      appendSystem: (addr, req) => holder(addr).appendSystemMessage(req, { metadata: { [FORWARDED]: '1' } }),
    };
    const server = createGrpcServer({ logger, metrics });
    server.addService(messageV1.MessageService, messageServiceImpl(ctx, forwarder));

    const life = new Lifecycle({
      name: 'message',
      logger,
      grpc: server,
      checks: { cassandra: checks.cassandra(cassandra), redis: checks.redis(redis), kafka: checks.kafka(kafka) },
    });
    const svc = new MessageService(ctx, life);
    life
      .onStart('topics', async () => {
        const created = await createTopics(cfg, kafka);
        if (created.length) logger.info({ topics: created }, 'topics created');
      })
      .onStart('producer', () => producer.connect())
      .startReadiness()
      .listenGrpc(host, cfg.grpcPort)
      .onStart('leases', async () => {
        // Where other replicas forward sends of chats whose shard this process holds: MESSAGE_ADVERTISE_ENDPOINT (a
        // host, e.g. the pod IP, or host:port), else the bound host.
        const adv = cfg.advertiseAddr || (host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host);
        ctx.leases.setAddr(/:\d+$/.test(adv) && !adv.includes('::') ? adv : `${adv.includes(':') ? `[${adv}]` : adv}:${life.grpcPort}`);
        ctx.leases.start();
        await ctx.leases.ready();
      })
      .serveOps(host, cfg.httpPort, metrics.registry)
      .onStart('fanout', async () => {
        if (cfg.fanoutEnabled) svc.fanout = await startFanoutWorker(ctx, kafka);
      });
    life
      .stopGrpc()
      // After the last send is answered: hand the shards over at once (successors need not wait for expiry).
      .onStop('leases', () => ctx.leases.stop())
      .onStop('fanout', () => svc.fanout?.stop())
      // One last try for stored messages whose publish failed; what is still left reaches its recipients from
      // their backlogs (no live delivery, no push).
      .onStop('republisher', async () => {
        const left = await ctx.republisher.stop();
        if (left) logger.warn({ messages: left }, 'stopping with stored messages never published (recipients get them from the backlog)');
      })
      .onStop('producer', () => producer.disconnect())
      .stopOps()
      .onStop('peers', () => peers.forEach((p) => p.close()))
      .onStop('redis', () => redis.quit())
      .onStop('cassandra', () => cassandra.shutdown());
    return svc;
  }
}

export interface Adapters {
  log: MessagesStore;
  dedupe: DedupeStore;
  cursors: CursorTable;
  events: ChatEvents;
  delivery: GatewayDeliveries;
  groups: GroupPort;
  routes: RoutesPort;
  media: MediaPort;
  leases: LeaseStore;
}

export interface AppContext {
  cfg: MessageConfig;
  logger: Logger;
  metrics: MessageMetrics;
  instanceId: string;
  sequencer: ChatSequencer;
  leases: ShardLeases;
  authorizer: SendAuthorizer;
  sender: MessageSender;
  sendAdmission: Admission;
  inbox: InboxManager;
  reader: ChatReader;
  heads: HeadsStore;
  router: FanoutRouter;
  /** Stored messages whose publish failed, republished in the background (domain/republisher.ts). */
  republisher: Republisher;
  adapters: Adapters;
}

export function buildContext(cfg: MessageConfig, logger: Logger, metrics: MessageMetrics, a: Adapters, selfAddr = ''): AppContext {
  const instanceId = `${process.pid}-${randomBytes(6).toString('hex')}`;
  const leaseLog = logger.child({ subsystem: 'shard-leases' });
  const leases = new ShardLeases(a.leases, {
    owner: instanceId,
    addr: selfAddr,
    shards: cfg.sequencerShards,
    leaseMs: cfg.sequencerLeaseMs,
    marginMs: cfg.sequencerLeaseMarginMs,
    onChange: (event, shard, epoch) => leaseLog.info({ shard, epoch: String(epoch) }, `shard ${event}`),
    onError: (err) => leaseLog.warn({ err }, 'lease round failed'),
  });
  const republishLog = logger.child({ subsystem: 'republisher' });
  let lastRepublishWarn = 0;
  const republisher = new Republisher(a.events, {
    onPublished: (n) => {
      metrics.republished.inc({ result: 'published' }, n);
      republishLog.info({ messages: n }, 'stored messages published after their publish had failed');
    },
    onDropped: (n) => {
      metrics.republished.inc({ result: 'dropped' }, n);
      republishLog.error({ messages: n }, 'too many unpublished messages held: the oldest were dropped (their recipients get them from the backlog on connect, without push)');
    },
    onError: (err, held) => {
      const now = Date.now();
      if (now - lastRepublishWarn < 10_000) return;
      lastRepublishWarn = now;
      republishLog.warn({ err, held }, 'republishing stored messages failed; retrying with backoff');
    },
  });
  const sequencer = new ChatSequencer(
    a.log,
    // After the commit (and the lease check), before anyone is answered: the publish to chat.messages.v1, in seq
    // order (ChatEvents.publishMessages). The fenced write already recorded the dedupe rows and the chat's head in
    // its one request (MessagesStore.insertBatch).
    a.events,
    {
      leases,
      bucketSize: BigInt(cfg.bucketSize),
      onConflict: () => metrics.commitConflicts.inc(),
      onBatch: (n) => metrics.commitBatch.observe(n),
      onStage: (stage, ms) => metrics.stageSeconds.observe({ stage }, ms / 1000),
      onUnpublished: (msgs) => republisher.hold(msgs),
    },
  );
  const authorizer = new SendAuthorizer(a.groups, sequencer, cfg.membershipCacheTtlMs);
  const sender = new MessageSender({
    sequencer,
    authorizer,
    dedupe: a.dedupe,
    log: a.log,
    publisher: a.events,
    media: a.media,
    commitTimeoutMs: cfg.sendCommitTimeoutMs,
    newId: () => randomUUID(),
  });
  const inbox = new InboxManager(a.groups, a.log, a.cursors, a.events, {
    ttlMs: cfg.inboxTtlDays * 86_400_000,
    newDeviceBacklogLimit: cfg.newDeviceBacklogLimit,
    cachedMember: (chatId, userId, upTo) => authorizer.cachedMember(chatId, userId, upTo),
  });
  const reader = new ChatReader(a.groups, a.log, authorizer, a.cursors, a.events);
  const router = new FanoutRouter(a.groups, a.routes, new FanoutDelivery(a.delivery, a.events), { ttlMs: cfg.membershipCacheTtlMs });
  const sendAdmission = createAdmission({ name: 'the message service', max: cfg.maxInflightSends });
  return { cfg, logger, metrics, instanceId, sequencer, leases, authorizer, sender, sendAdmission, inbox, reader, heads: a.log, router, republisher, adapters: a };
}
