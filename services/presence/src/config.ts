import { defineConfig, env, infraEnv, listenEnv, peerAddrEnv, type ConfigShape } from '@parley/kit';

export const envSpec = defineConfig({
  ...infraEnv.common,
  ...infraEnv.cassandra,
  ...infraEnv.redis,
  ...infraEnv.kafka,
  ...listenEnv('PRESENCE', { grpcPort: 50054, httpPort: 9464 }),
  sessionAddr: peerAddrEnv('PRESENCE', 'session'),
  groupAddr: peerAddrEnv('PRESENCE', 'group'),
  messageAddr: peerAddrEnv('PRESENCE', 'message'),
  /** A device that went away without a close frame and comes back within this window shows no offline/online pair. */
  graceMs: env.duration('PRESENCE_GRACE_MS', { default: '2s' }),
  /** How often expired connections, grace windows and lapsed typing are swept. */
  sweepMs: env.duration('PRESENCE_SWEEP_MS', { default: '250ms' }),
  /** Receipts of a group chat are coalesced per recipient over this window (direct chats: the next tick). */
  receiptWindowMs: env.duration('PRESENCE_RECEIPT_WINDOW_MS', { default: '250ms' }),
  /** Typing lapses (subscribers get `paused`) this long after the last refresh. */
  typingTtlMs: env.duration('PRESENCE_TYPING_TTL_MS', { default: '6s' }),
  /** Typing is not relayed in chats with more members than this. */
  typingMaxMembers: env.int('PRESENCE_TYPING_MAX_MEMBERS', { default: 100, min: 2 }),
  /** Presence subscriptions one connection may hold. */
  maxSubscriptions: env.int('PRESENCE_MAX_SUBSCRIPTIONS', { default: 2000, min: 1 }),
  /** How long a replica trusts its cached copy of a user's settings. */
  settingsCacheMs: env.duration('PRESENCE_SETTINGS_CACHE_MS', { default: '2s' }),
  /** Consume chat.receipts.v1 and deliver receipts (off: this replica serves only presence, typing, settings). */
  receiptsEnabled: env.bool('PRESENCE_RECEIPTS_ENABLED', { default: true }),
});
export type PresenceConfig = ConfigShape<typeof envSpec.schema>;
