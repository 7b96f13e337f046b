import { defineConfig, env, infraEnv, listenEnv, type ConfigShape } from '@parley/kit';

export const envSpec = defineConfig({
  ...infraEnv.common,
  ...infraEnv.cassandra,
  ...infraEnv.kafka,
  ...listenEnv('PUSH', { grpcPort: 50056, httpPort: 9466 }),
  /** For sender names in previews (GetUsers). Without it previews carry no name. */
  sessionAddr: env.optionalStr('PUSH_SESSION_ADDR'),

  // Content and collapse.
  previews: env.bool('PUSH_PREVIEWS', { default: true }),
  previewMaxChars: env.int('PUSH_PREVIEW_MAX_CHARS', { default: 100, min: 0, max: 200 }),
  collapseWindowMs: env.duration('PUSH_COLLAPSE_WINDOW', { default: '10s', min: 0, max: 3_600_000 }),
  /** Push requests for messages older than this are dropped (a first deploy, a long outage: no stale alerts). */
  maxAgeMs: env.duration('PUSH_MAX_AGE', { default: '1h', min: 1000 }),

  // Delivery.
  concurrencyPerProvider: env.int('PUSH_CONCURRENCY_PER_PROVIDER', { default: 32, min: 1, max: 1000 }),
  maxInFlight: env.int('PUSH_MAX_IN_FLIGHT', { default: 5000, min: 1, max: 100_000 }),
  /** Queued sends per provider beyond which new requests go to push.retry.v1 instead of waiting in memory. */
  queuePerProvider: env.int('PUSH_QUEUE_PER_PROVIDER', { default: 1000, min: 1, max: 100_000 }),
  maxAttempts: env.int('PUSH_MAX_ATTEMPTS', { default: 8, min: 1, max: 50 }),
  retryBaseMs: env.duration('PUSH_RETRY_BASE', { default: '500ms', min: 1 }),
  retryMaxMs: env.duration('PUSH_RETRY_MAX', { default: '60s', min: 1 }),
  /** Records of push.retry.v1 held at once (each waits for its not-before time uncommitted). */
  retryMaxInFlight: env.int('PUSH_RETRY_MAX_IN_FLIGHT', { default: 20_000, min: 1, max: 1_000_000 }),
  /** A provider disabled by refused credentials is re-probed after this, doubling per failed probe up to the max. */
  reprobeBaseMs: env.duration('PUSH_PROVIDER_REPROBE_BASE', { default: '30s', min: 100 }),
  reprobeMaxMs: env.duration('PUSH_PROVIDER_REPROBE_MAX', { default: '15m', min: 100 }),
  requestTimeoutMs: env.duration('PUSH_REQUEST_TIMEOUT', { default: '10s', min: 100 }),
  /** Destinations allowed despite the SSRF guard: CIDRs (`127.0.0.0/8`, `::1/128`) or host names. */
  outboundAllow: env.list('PUSH_OUTBOUND_ALLOW', { default: [] }),
  /** Read by Node itself at start (extra trusted CAs for every outbound TLS connection); listed so the chart may set it. */
  extraCaCerts: env.optionalStr('NODE_EXTRA_CA_CERTS'),

  // FCM HTTP v1: the service-account JSON (its token_uri is where the signed JWT is exchanged).
  fcmServiceAccount: env.optionalStr('PUSH_FCM_SERVICE_ACCOUNT', { secret: true }),
  fcmBaseUrl: env.url('PUSH_FCM_BASE_URL', { default: 'https://fcm.googleapis.com' }),

  // APNs token auth (.p8 key).
  apnsKey: env.optionalStr('PUSH_APNS_KEY', { secret: true }),
  apnsKeyId: env.optionalStr('PUSH_APNS_KEY_ID'),
  apnsTeamId: env.optionalStr('PUSH_APNS_TEAM_ID'),
  apnsTopic: env.optionalStr('PUSH_APNS_TOPIC'),
  apnsBaseUrl: env.url('PUSH_APNS_BASE_URL', { default: 'https://api.push.apple.com' }),

  // Web Push (VAPID, RFC 8292): base64url keys as `web-push generate-vapid-keys` prints them.
  vapidPublicKey: env.optionalStr('PUSH_VAPID_PUBLIC_KEY'),
  vapidPrivateKey: env.optionalStr('PUSH_VAPID_PRIVATE_KEY', { secret: true }),
  vapidSubject: env.str('PUSH_VAPID_SUBJECT', { default: 'mailto:ops@parley.invalid' }),

  // Webhook: HMAC-SHA256 secret.
  webhookSecret: env.optionalStr('PUSH_WEBHOOK_SECRET', { secret: true }),
});
export type PushConfig = ConfigShape<typeof envSpec.schema>;
