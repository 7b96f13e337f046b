import { defineConfig, env, infraEnv, type ConfigShape } from '@parley/kit';

export const envSpec = defineConfig({
  ...infraEnv.common,
  ...infraEnv.redis,
  ...infraEnv.kafka,
  host: env.str('PRESENCE_HOST', { default: '0.0.0.0' }),
  grpcPort: env.int('PRESENCE_GRPC_PORT', { default: 50054, min: 0, max: 65535 }),
  httpPort: env.int('PRESENCE_HTTP_PORT', { default: 9464, min: 0, max: 65535 }),
  sessionAddr: env.str('PRESENCE_SESSION_ADDR', { default: '127.0.0.1:50051' }),
  groupAddr: env.str('PRESENCE_GROUP_ADDR', { default: '127.0.0.1:50052' }),
});
export type PresenceConfig = ConfigShape<typeof envSpec.vars>;
