import { defineConfig, env, infraEnv, listenEnv, peerAddrEnv, type ConfigShape } from '@parley/kit';

export const envSpec = defineConfig({
  ...infraEnv.common,
  ...infraEnv.cassandra,
  ...infraEnv.redis,
  ...listenEnv('GROUP', { grpcPort: 50052, httpPort: 9462 }),
  messageAddr: peerAddrEnv('GROUP', 'message'),
  sessionAddr: peerAddrEnv('GROUP', 'session'),
  /** Members per group, the creator included. */
  maxMembers: env.int('GROUP_MAX_MEMBERS', { default: 1024, min: 2, max: 100_000 }),
  /** chat.list returns at most this many chats (most recent activity first). */
  listLimit: env.int('GROUP_LIST_LIMIT', { default: 500, min: 1, max: 10_000 }),
  /**
   * Per-user budgets, cluster-wide in Redis (every group replica shares them): chats a user creates, and
   * members a user adds (each userId counts, in chat.create and chat.members.add), so that one account cannot
   * drag thousands of strangers into groups in a loop. Over budget: rate_limited with retryAfterMs.
   */
  createPerMinute: env.int('GROUP_RATE_CREATE_PER_MINUTE', { default: 5, min: 0 }),
  createBurst: env.int('GROUP_RATE_CREATE_BURST', { default: 20, min: 1 }),
  membersAddedPerMinute: env.int('GROUP_RATE_MEMBERS_ADDED_PER_MINUTE', { default: 100, min: 0 }),
  membersAddedBurst: env.int('GROUP_RATE_MEMBERS_ADDED_BURST', { default: 1100, min: 1 }),
  /** A membership operation pending longer than this is presumed abandoned and finished by the next caller. */
  staleOpMs: env.int('GROUP_STALE_OP_MS', { default: 3000, min: 100, max: 600_000 }),
});
export type GroupConfig = ConfigShape<typeof envSpec.schema>;
