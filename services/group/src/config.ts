import { defineConfig, env, infraEnv, type ConfigShape } from '@parley/kit';

export const envSpec = defineConfig({
  ...infraEnv.common,
  ...infraEnv.cassandra,
  ...infraEnv.redis,
  host: env.str('GROUP_HOST', { default: '0.0.0.0' }),
  grpcPort: env.int('GROUP_GRPC_PORT', { default: 50052, min: 0, max: 65535 }),
  httpPort: env.int('GROUP_HTTP_PORT', { default: 9462, min: 0, max: 65535 }),
  messageAddr: env.str('GROUP_MESSAGE_ADDR', { default: '127.0.0.1:50053' }),
  sessionAddr: env.str('GROUP_SESSION_ADDR', { default: '127.0.0.1:50051' }),
  /** Members per group, the creator included. */
  maxMembers: env.int('GROUP_MAX_MEMBERS', { default: 1024, min: 2, max: 100_000 }),
  /** chat.list returns at most this many chats (most recent activity first). */
  listLimit: env.int('GROUP_LIST_LIMIT', { default: 500, min: 1, max: 10_000 }),
  /** A membership operation pending longer than this is presumed abandoned and finished by the next caller. */
  staleOpMs: env.int('GROUP_STALE_OP_MS', { default: 3000, min: 100, max: 600_000 }),
});
export type GroupConfig = ConfigShape<typeof envSpec.vars>;
