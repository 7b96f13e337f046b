import { defineConfig, env, infraEnv, listenEnv, type ConfigShape } from '@parley/kit';

export const envSpec = defineConfig({
  ...infraEnv.common,
  ...infraEnv.cassandra,
  ...infraEnv.redis,
  ...infraEnv.kafka,
  ...listenEnv('SESSION', { grpcPort: 50051, httpPort: 9461 }),
  jwtIssuer: env.str('SESSION_JWT_ISSUER', { default: 'parley' }),
  jwtAudience: env.str('SESSION_JWT_AUDIENCE', { default: 'parley' }),
  accessTokenTtlSeconds: env.int('SESSION_ACCESS_TOKEN_TTL_SECONDS', { default: 900, min: 1, max: 86_400 }),
  refreshTokenTtlDays: env.int('SESSION_REFRESH_TOKEN_TTL_DAYS', { default: 30, min: 1, max: 365 }),
  keyRotationHours: env.int('SESSION_KEY_ROTATION_HOURS', { default: 24, min: 1 }),
  connectionTtlSeconds: env.int('SESSION_CONNECTION_TTL_SECONDS', { default: 60, min: 1 }),
  /**
   * production (default) | development | test. Outside production a password hash cost below OWASP's minimum
   * and signing keys without SESSION_SIGNING_KEY_SECRET are allowed (with a warning); in production both
   * refuse to start.
   */
  environment: env.enum('PARLEY_ENV', ['production', 'development', 'test'], { default: 'production' }),
  /** scrypt cost N (power of two) and parallelization p (r = 8). The default 2^14 × 5 is OWASP's minimum. */
  scryptCost: env.int('SESSION_SCRYPT_COST', { default: 16384, min: 1024, max: 1_048_576 }),
  scryptParallelism: env.int('SESSION_SCRYPT_PARALLELISM', { default: 5, min: 1, max: 64 }),
  /** Worker threads that hash passwords (0: one per available CPU, at most 4). */
  hashWorkers: env.int('SESSION_HASH_WORKERS', { default: 0, min: 0, max: 64 }),
  /**
   * A login or sign-up whose hash is not expected to be done within this is refused with rate_limited. Must fit
   * inside the gateway's GATEWAY_AUTH_DEADLINE_MS (15 s) with room for the store writes.
   */
  hashMaxWaitMs: env.int('SESSION_HASH_MAX_WAIT_MS', { default: 6000, min: 100 }),
  /** Active devices per user; a login beyond it answers 409 conflict (docs/protocol.md). */
  maxDevicesPerUser: env.int('SESSION_MAX_DEVICES_PER_USER', { default: 16, min: 1, max: 1000 }),
  /** Seals private signing keys at rest (AES-256-GCM). Required in production; unset elsewhere: plain JWK. */
  signingKeySecret: env.optionalStr('SESSION_SIGNING_KEY_SECRET', { secret: true }),
});
export type SessionConfig = ConfigShape<typeof envSpec.schema>;
