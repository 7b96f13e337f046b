import { defineConfig, env, infraEnv, type ConfigShape } from '@parley/kit';

export const envSpec = defineConfig({
  ...infraEnv.common,
  ...infraEnv.cassandra,
  ...infraEnv.redis,
  ...infraEnv.kafka,
  host: env.str('SESSION_HOST', { default: '0.0.0.0' }),
  grpcPort: env.int('SESSION_GRPC_PORT', { default: 50051, min: 0, max: 65535 }),
  httpPort: env.int('SESSION_HTTP_PORT', { default: 9461, min: 0, max: 65535 }),
  jwtIssuer: env.str('SESSION_JWT_ISSUER', { default: 'parley' }),
  jwtAudience: env.str('SESSION_JWT_AUDIENCE', { default: 'parley' }),
  accessTokenTtlSeconds: env.int('SESSION_ACCESS_TOKEN_TTL_SECONDS', { default: 900, min: 1, max: 86_400 }),
  refreshTokenTtlDays: env.int('SESSION_REFRESH_TOKEN_TTL_DAYS', { default: 30, min: 1, max: 365 }),
  keyRotationHours: env.int('SESSION_KEY_ROTATION_HOURS', { default: 24, min: 1 }),
  connectionTtlSeconds: env.int('SESSION_CONNECTION_TTL_SECONDS', { default: 60, min: 1 }),
  /** scrypt cost N (power of two). 16384 in production; tests and benches may lower it. */
  scryptCost: env.int('SESSION_SCRYPT_COST', { default: 16384, min: 1024, max: 1_048_576 }),
  /** Seals private signing keys at rest (AES-256-GCM). Unset: stored as plain JWK (local development). */
  signingKeySecret: env.optionalStr('SESSION_SIGNING_KEY_SECRET', { secret: true }),
});
export type SessionConfig = ConfigShape<typeof envSpec.vars>;
