import { defineConfig, env, infraEnv, type ConfigShape } from '@parley/kit';

export const envSpec = defineConfig({
  ...infraEnv.common,
  ...infraEnv.cassandra,
  ...infraEnv.minio,
  host: env.str('MEDIA_HOST', { default: '0.0.0.0' }),
  grpcPort: env.int('MEDIA_GRPC_PORT', { default: 50055, min: 0, max: 65535 }),
  httpPort: env.int('MEDIA_HTTP_PORT', { default: 9465, min: 0, max: 65535 }),
  groupAddr: env.str('MEDIA_GROUP_ADDR', { default: '127.0.0.1:50052' }),
  maxUploadBytes: env.int('MEDIA_MAX_UPLOAD_BYTES', { default: 100 * 1024 * 1024, min: 1 }),
});
export type MediaConfig = ConfigShape<typeof envSpec.vars>;
