// The message service's configuration (env only; main.ts reads process.env and passes it in).
import { defineConfig, env, infraEnv, listenEnv, peerAddrEnv, type ConfigShape } from '@parley/kit';

export const envSpec = defineConfig({
  ...listenEnv('MESSAGE', { grpcPort: 50053, httpPort: 9463 }),
  groupAddr: peerAddrEnv('MESSAGE', 'group'),
  sessionAddr: peerAddrEnv('MESSAGE', 'session'),
  mediaAddr: peerAddrEnv('MESSAGE', 'media'),
  /** Unacked messages are redelivered for this long. */
  inboxTtlDays: env.int('MESSAGE_INBOX_TTL_DAYS', { default: 30, min: 1 }),
  /** Seqs per log partition (chat_id, bucket). Fixed for the life of a deployment. */
  bucketSize: env.int('MESSAGE_BUCKET_SIZE', { default: 10_000, min: 2 }),
  /** What a device with no cursor for a chat gets on its first backlog: the most recent N messages. */
  newDeviceBacklogLimit: env.int('MESSAGE_NEW_DEVICE_BACKLOG_LIMIT', { default: 0, min: 0 }),
  /** The owner of a send gives up committing after this long (then a retry may take the claim over). */
  sendCommitTimeoutMs: env.int('MESSAGE_SEND_COMMIT_TIMEOUT_MS', { default: 5_000, min: 100 }),
  /** Chats hash onto this many sequencer shards, each owned by one replica at a time. Fixed per deployment. */
  sequencerShards: env.int('MESSAGE_SEQUENCER_SHARDS', { default: 16, min: 1, max: 4096 }),
  /** A shard holder's heartbeat lifetime: a crashed holder's shards move after this long. */
  sequencerLeaseMs: env.int('MESSAGE_SEQUENCER_LEASE_MS', { default: 10_000, min: 200 }),
  /** The holder stops using its lease this long before it expires (clock skew + the store's write timeout). */
  sequencerLeaseMarginMs: env.int('MESSAGE_SEQUENCER_LEASE_MARGIN_MS', { default: 3_000, min: 0 }),
  /** Address other replicas forward a chat's sends to when this replica holds its shard (default host:grpcPort). */
  advertiseAddr: env.str('MESSAGE_ADVERTISE_ENDPOINT', { default: '' }),
  /** Membership cache lifetime (positive answers only; see domain/authorizer.ts). */
  membershipCacheTtlMs: env.int('MESSAGE_MEMBERSHIP_CACHE_TTL_MS', { default: 30_000, min: 0 }),
  /** How many chats the fan-out worker routes at once per partition (each chat stays in seq order). */
  fanoutConcurrency: env.int('MESSAGE_FANOUT_CONCURRENCY', { default: 64, min: 1, max: 1024 }),
  /** Load shedding: concurrent SendMessage calls beyond this are refused at once with `unavailable`. */
  maxInflightSends: env.int('MESSAGE_MAX_INFLIGHT_SENDS', { default: 128, min: 1 }),
  /** Recently committed messages kept in memory for the ack path (0 disables). */
  recentMessagesCacheSize: env.int('MESSAGE_RECENT_CACHE_SIZE', { default: 5000, min: 0 }),
  /** Inbox cursors kept in memory for the ack path (0 disables; see adapters/inbox-store.ts for why it is safe). */
  cursorCacheSize: env.int('MESSAGE_CURSOR_CACHE_SIZE', { default: 100_000, min: 0 }),
  /** Run the fan-out worker in this process. */
  fanoutEnabled: env.bool('MESSAGE_FANOUT_ENABLED', { default: true }),
  ...infraEnv.cassandra,
  ...infraEnv.kafka,
  ...infraEnv.redis,
  ...infraEnv.common,
});

export type MessageConfig = ConfigShape<typeof envSpec.schema>;
