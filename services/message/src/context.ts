// The application context: domain objects wired to their adapters, built once from config.
// Tests swap adapters through `ContextOverrides` (atproto bsync style).
import { randomUUID, randomBytes } from 'node:crypto';
import { createAdmission, type Admission, type Logger, type Metrics } from '@parley/kit';
import type { MessageConfig } from './config.js';
import { ChatSequencer } from './domain/chat-sequencer.js';
import { SendAuthorizer } from './domain/authorizer.js';
import { MessageSender } from './domain/message-sender.js';
import { InboxManager } from './domain/inbox.js';
import { ChatReader } from './domain/history.js';
import { FanoutRouter } from './domain/fanout-router.js';
import { ShardLeases, type LeaseStore } from './domain/shard-leases.js';
import { type DedupeStore, type GroupPort, type HeadsStore, type MediaPort, type RoutesPort } from './domain/ports.js';
import type { MessagesStore } from './storage/messages-store.js';
import type { CursorTable } from './storage/inbox-store.js';
import type { ChatEvents } from './storage/chat-events.js';
import type { GatewayDeliveryBus } from './storage/delivery-bus.js';

export interface MessageMetrics {
  sends: ReturnType<Metrics['counter']>;
  sendSeconds: ReturnType<Metrics['histogram']>;
  commitBatch: ReturnType<Metrics['histogram']>;
  commitConflicts: ReturnType<Metrics['counter']>;
  acks: ReturnType<Metrics['counter']>;
  backlogMessages: ReturnType<Metrics['counter']>;
  fanoutMessages: ReturnType<Metrics['counter']>;
  fanoutTargets: ReturnType<Metrics['counter']>;
  fanoutSeconds: ReturnType<Metrics['histogram']>;
  stageSeconds: ReturnType<Metrics['histogram']>;
}

export function messageMetrics(m: Metrics): MessageMetrics {
  return {
    sends: m.counter('parley_message_sends_total', 'SendMessage calls by result', ['result']),
    sendSeconds: m.histogram('parley_message_send_seconds', 'SendMessage latency'),
    commitBatch: m.histogram('parley_message_commit_batch_size', 'messages per conditional commit', [], [1, 2, 4, 8, 16, 32, 64]),
    commitConflicts: m.counter('parley_message_commit_conflicts_total', 'commit rounds lost to another writer'),
    acks: m.counter('parley_message_acks_total', 'acked items received'),
    backlogMessages: m.counter('parley_message_backlog_messages_total', 'messages streamed from backlogs'),
    fanoutMessages: m.counter('parley_message_fanout_messages_total', 'messages routed by the fan-out worker'),
    fanoutTargets: m.counter('parley_message_fanout_targets_total', 'device targets by path', ['path']),
    fanoutSeconds: m.histogram('parley_message_fanout_seconds', 'fan-out time per message'),
    stageSeconds: m.histogram('parley_message_send_stage_seconds', 'time per step of a send: queued (arrival to committable), write (log batch), post (publish before the answer)', ['stage'], [
      0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
    ]),
  };
}

export interface Adapters {
  log: MessagesStore;
  dedupe: DedupeStore;
  cursors: CursorTable;
  events: ChatEvents;
  delivery: GatewayDeliveryBus;
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
  const sequencer = new ChatSequencer(
    a.log,
    // After the commit (and the lease check), before anyone is answered: the publish, in seq order. The fenced
    // write already recorded the dedupe rows and the chat's head in its one request (MessagesStore.insertBatch).
    async (_chatId, msgs) => a.events.publishMessages(msgs),
    {
      leases,
      bucketSize: BigInt(cfg.bucketSize),
      onConflict: () => metrics.commitConflicts.inc(),
      onBatch: (n) => metrics.commitBatch.observe(n),
      onStage: (stage, ms) => metrics.stageSeconds.observe({ stage }, ms / 1000),
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
  const router = new FanoutRouter(
    a.groups,
    a.routes,
    {
      toGateway: (gw, targets, msg) => a.delivery.publish(gw, targets, msg),
      toPush: (msg, devices) => a.events.publishPush(msg, devices),
    },
    { ttlMs: cfg.membershipCacheTtlMs },
  );
  const sendAdmission = createAdmission({ name: 'the message service', max: cfg.maxInflightSends });
  return { cfg, logger, metrics, instanceId, sequencer, leases, authorizer, sender, sendAdmission, inbox, reader, heads: a.log, router, adapters: a };
}
