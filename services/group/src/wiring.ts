// The group service: chats, members and roles; membership changes committed into each chat's sequence.
import {
  checks,
  createClient,
  createGrpcServer,
  createLogger,
  createMetrics,
  createRedis,
  errors,
  keyspaceMigrator,
  Lifecycle,
  LifecycleService,
  openCassandra,
  ParleyError,
  RedisRateLimiter,
  type Logger,
} from '@parley/kit';
import { groupV1, messageV1, sessionV1 } from '@parley/proto';
import type { GroupConfig } from './config.js';
import { groupMetrics, type GroupMetrics } from './metrics.js';
import { ChatsStore } from './adapters/chats-store.js';
import { GatewayPublisher } from './adapters/gateway-publisher.js';
import { MessageServiceLog } from './adapters/message-log.js';
import { SessionDirectory } from './adapters/session-directory.js';
import { groupServiceImpl } from './api/grpc/group-service.js';
import { ChatManager } from './domain/chat-manager.js';
import type { ChatEvents, ChatStore, MessageLog, UserDirectory } from './domain/model.js';

export interface GroupServiceOptions {
  migrationsDir: string;
  logger?: Logger;
  /** Host to bind (default: GROUP_HOST). */
  host?: string;
  /** Swap adapters (tests). */
  overrides?: Partial<Adapters>;
}

export class GroupService extends LifecycleService {
  private constructor(
    readonly cfg: GroupConfig,
    readonly logger: Logger,
    readonly ctx: AppContext,
    readonly life: Lifecycle,
  ) {
    super();
  }

  static readonly migrate = keyspaceMigrator('group');

  static async create(cfg: GroupConfig, opts: GroupServiceOptions): Promise<GroupService> {
    const logger = opts.logger ?? createLogger('group', cfg.logLevel);
    const host = opts.host ?? cfg.host;
    await GroupService.migrate(cfg, opts.migrationsDir, logger);
    const metrics = createMetrics('group');
    const gm = groupMetrics(metrics);
    const cassandra = openCassandra(cfg);
    await cassandra.connect();
    const redis = createRedis(cfg.redisUrl, { logger, name: 'group' });
    const messageClient = createClient(messageV1.MessageService, cfg.messageAddr, { deadlineMs: 5000 });
    const sessionClient = createClient(sessionV1.SessionService, cfg.sessionAddr, { deadlineMs: 5000 });
    const directory = new SessionDirectory(sessionClient);
    const adapters: Adapters = {
      store: new ChatsStore(cassandra),
      log: new MessageServiceLog(messageClient),
      users: directory,
      events: new GatewayPublisher(redis, directory, cfg.namespace, (n) => gm.publishes.inc(n)),
      ...opts.overrides,
    };
    const buckets = new RedisRateLimiter(redis, cfg.namespace);
    const over = async (key: string, rate: { perMinute: number; burst: number }, cost: number, what: string) => {
      let wait: number;
      try {
        wait = await buckets.take(key, rate, cost);
      } catch (err) {
        throw new ParleyError('unavailable', 'rate limit store unavailable', { retryAfterMs: 1000, cause: err });
      }
      if (wait > 0) throw errors.rateLimited(wait, `too many ${what}; retry later`);
    };
    const limits = {
      chatCreated: (u: string) => over(`group:create:user:${u}`, { perMinute: cfg.createPerMinute, burst: cfg.createBurst }, 1, 'chats created'),
      membersAdded: async (u: string, n: number) => {
        // A request larger than the whole burst could never pass: the group size limit answers it instead.
        if (n > 0) await over(`group:members:user:${u}`, { perMinute: cfg.membersAddedPerMinute, burst: cfg.membersAddedBurst }, Math.min(n, cfg.membersAddedBurst), 'members added');
      },
    };
    const ctx = buildContext(cfg, logger.child({ subsystem: 'chats' }), gm, adapters, limits);
    const grpc = createGrpcServer({ logger, metrics });
    grpc.addService(groupV1.GroupService, groupServiceImpl(ctx));

    // Ready when our stores answer. Message and session are dependencies of some calls, not of readiness:
    // GetMembers/ListMemberships (the message service's hot path) need only Cassandra.
    const life = new Lifecycle({ name: 'group', logger, grpc, checks: { cassandra: checks.cassandra(cassandra), redis: checks.redis(redis) } });
    life.startReadiness().listenGrpc(host, cfg.grpcPort).serveOps(host, cfg.httpPort, metrics.registry);
    life
      .stopGrpc()
      .stopOps()
      .onStop('peers', () => {
        messageClient.close();
        sessionClient.close();
      })
      .onStop('redis', () => redis.disconnect())
      .onStop('cassandra', () => cassandra.shutdown());
    return new GroupService(cfg, logger, ctx, life);
  }
}

export interface Adapters {
  store: ChatStore;
  log: MessageLog;
  users: UserDirectory;
  events: ChatEvents;
}

/** Per-user budgets (RedisRateLimiter in the service): each throws rate_limited when over. */
export interface UserLimits {
  chatCreated(userId: string): Promise<void>;
  membersAdded(userId: string, count: number): Promise<void>;
}

export interface AppContext {
  cfg: GroupConfig;
  logger: Logger;
  chats: ChatManager;
  limits: UserLimits;
}

const noLimits: UserLimits = { chatCreated: async () => {}, membersAdded: async () => {} };

export function buildContext(cfg: GroupConfig, logger: Logger, metrics: GroupMetrics, a: Adapters, limits: UserLimits = noLimits): AppContext {
  const chats = new ChatManager(a.store, a.log, a.users, a.events, {
    maxMembers: cfg.maxMembers,
    listLimit: cfg.listLimit,
    staleOpMs: cfg.staleOpMs,
    onWarn: (msg, err) => {
      metrics.warnings.inc();
      logger.warn({ err }, msg);
    },
    onOp: (kind, healed) => metrics.ops.inc({ kind, healed: String(healed) }),
  });
  return { cfg, logger, chats, limits };
}
