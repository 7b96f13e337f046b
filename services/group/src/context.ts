// The application context: the ChatManager wired to its adapters, built once from config.
// Tests swap adapters through `overrides`.
import type { Logger, Metrics } from '@parley/kit';
import type { GroupConfig } from './config.js';
import { ChatManager } from './domain/chat-manager.js';
import type { ChatEvents, ChatStore, MessageLog, UserDirectory } from './domain/model.js';

export interface GroupMetrics {
  ops: ReturnType<Metrics['counter']>;
  publishes: ReturnType<Metrics['counter']>;
  warnings: ReturnType<Metrics['counter']>;
}

export function groupMetrics(m: Metrics): GroupMetrics {
  return {
    ops: m.counter('parley_group_ops_total', 'membership operations committed to the sequence, by kind and whether healed', ['kind', 'healed']),
    publishes: m.counter('parley_group_chat_updated_gateways_total', 'chat.updated deliveries published (one per gateway)'),
    warnings: m.counter('parley_group_best_effort_failures_total', 'best-effort steps that failed (publish, heal during reads)'),
  };
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
