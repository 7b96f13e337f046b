import { defineConfig, env, infraEnv, type ConfigShape } from '@parley/kit';

export const envSpec = defineConfig({
  ...infraEnv.common,
  ...infraEnv.cassandra,
  ...infraEnv.kafka,
  host: env.str('PUSH_HOST', { default: '0.0.0.0' }),
  grpcPort: env.int('PUSH_GRPC_PORT', { default: 50056, min: 0, max: 65535 }),
  httpPort: env.int('PUSH_HTTP_PORT', { default: 9466, min: 0, max: 65535 }),
});
export type PushConfig = ConfigShape<typeof envSpec.vars>;
