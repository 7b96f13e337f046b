// Gateway configuration: validated once at start (main.ts passes process.env).
import { hostname } from 'node:os';
import { join } from 'node:path';
import { defineConfig, env, infraEnv, peerAddrEnv, type ConfigShape } from '@parley/kit';
import type { RateConfig } from './domain/rate-limiter.js';
import { DEFAULT_RATES } from './domain/rate-limiter.js';

const rate = (cls: string, d: { perMinute: number; burst: number }) => ({
  perMinute: env.int(`GATEWAY_RATE_${cls}_PER_MINUTE`, { default: d.perMinute, min: 0 }),
  burst: env.int(`GATEWAY_RATE_${cls}_BURST`, { default: d.burst, min: 1 }),
});
const rates = {
  send: rate('SEND', DEFAULT_RATES.send),
  typing: rate('TYPING', DEFAULT_RATES.typing),
  mutate: rate('MUTATE', DEFAULT_RATES.mutate),
  read: rate('READ', DEFAULT_RATES.read),
  ack: rate('ACK', DEFAULT_RATES.ack),
  misc: rate('MISC', DEFAULT_RATES.misc),
};

/** Cluster-wide budgets of the unauthenticated auth routes (shared by every gateway through Redis). */
export const DEFAULT_AUTH_RATES = {
  signupIp: { perMinute: 20, burst: 20 },
  loginIp: { perMinute: 60, burst: 60 },
  loginUser: { perMinute: 30, burst: 10 },
  refreshIp: { perMinute: 120, burst: 60 },
} as const;
type AuthRateClass = keyof typeof DEFAULT_AUTH_RATES;
const AUTH_ENV: Record<AuthRateClass, string> = { signupIp: 'SIGNUP_IP', loginIp: 'LOGIN_IP', loginUser: 'LOGIN_USER', refreshIp: 'REFRESH_IP' };
const authRate = (cls: AuthRateClass) => ({
  perMinute: env.int(`GATEWAY_AUTH_RATE_${AUTH_ENV[cls]}_PER_MINUTE`, { default: DEFAULT_AUTH_RATES[cls].perMinute, min: 0 }),
  burst: env.int(`GATEWAY_AUTH_RATE_${AUTH_ENV[cls]}_BURST`, { default: DEFAULT_AUTH_RATES[cls].burst, min: 1 }),
});
const authRates = { signupIp: authRate('signupIp'), loginIp: authRate('loginIp'), loginUser: authRate('loginUser'), refreshIp: authRate('refreshIp') };

export const envSpec = defineConfig({
  host: env.str('GATEWAY_HOST', { default: '0.0.0.0' }),
  port: env.int('GATEWAY_PORT', { default: 8080, min: 0, max: 65535 }),
  instanceId: env.optionalStr('GATEWAY_INSTANCE_ID'),
  heartbeatIntervalMs: env.int('GATEWAY_HEARTBEAT_INTERVAL_MS', { default: 15_000, min: 100, max: 600_000 }),
  maxFrameBytes: env.int('GATEWAY_MAX_FRAME_BYTES', { default: 131_072, min: 1024, max: 16 * 1024 * 1024 }),
  /** How often the live-connection registry TTLs are refreshed (must stay below SESSION_CONNECTION_TTL_SECONDS). */
  registryHeartbeatMs: env.int('GATEWAY_REGISTRY_HEARTBEAT_MS', { default: 20_000, min: 1000 }),
  /** How often the signing key set is re-read from session (also re-read at once on an unknown kid). */
  keysRefreshMs: env.int('GATEWAY_KEYS_REFRESH_MS', { default: 60_000, min: 1000 }),
  /** Deadline of a gRPC call made for a client request. */
  upstreamDeadlineMs: env.int('GATEWAY_UPSTREAM_DEADLINE_MS', { default: 5000, min: 100 }),
  /**
   * Diagnostics only: serve GET /v1/diag/echo, an unauthenticated WebSocket that echoes every frame (text and
   * binary) with the gateway's own ws stack, for WebSocket conformance suites (e.g. Autobahn|Testsuite). Off
   * by default; never enable it on a public deployment.
   */
  diagEcho: env.bool('GATEWAY_DIAG_WS_ECHO', { default: false }),
  /** Deadline of the session calls of sign-up and login (password hashing is slow on purpose and queued). */
  authDeadlineMs: env.int('GATEWAY_AUTH_DEADLINE_MS', { default: 15_000, min: 100 }),
  /** Largest media upload a client may declare (protocol.md §7), checked here before media sees it. */
  mediaMaxBytes: env.int('GATEWAY_MEDIA_MAX_BYTES', { default: 100 * 1024 * 1024, min: 1 }),
  /** Load shedding: message.send calls in flight to the message service beyond this get `unavailable` at once. */
  maxInflightSends: env.int('GATEWAY_MAX_INFLIGHT_SENDS', { default: 128, min: 1 }),
  /** Connections the gateway accepts before refusing upgrades with 503. */
  maxConnections: env.int('GATEWAY_MAX_CONNECTIONS', { default: 100_000, min: 1 }),
  /** Time a SIGTERM gives in-flight requests after closing sockets. */
  drainMs: env.int('GATEWAY_DRAIN_MS', { default: 2000, min: 0 }),
  /**
   * Addresses or CIDRs of the proxies in front of the gateway (e.g. `10.0.0.0/8`) whose X-Forwarded-For is
   * believed. Empty (default): the socket's peer is the client, and X-Forwarded-For is ignored.
   */
  trustedProxies: env.list('GATEWAY_TRUSTED_PROXIES', { default: [] }),
  /** Failed logins of one username (within the window) before it is locked out; each further failure doubles the lock. */
  loginLockoutThreshold: env.int('GATEWAY_LOGIN_LOCKOUT_THRESHOLD', { default: 5, min: 1 }),
  loginLockoutBaseMs: env.int('GATEWAY_LOGIN_LOCKOUT_BASE_MS', { default: 1000, min: 1 }),
  loginLockoutMaxMs: env.int('GATEWAY_LOGIN_LOCKOUT_MAX_MS', { default: 900_000, min: 1 }),
  loginLockoutWindowMs: env.int('GATEWAY_LOGIN_LOCKOUT_WINDOW_MS', { default: 900_000, min: 1000 }),
  sessionAddr: peerAddrEnv('GATEWAY', 'session'),
  groupAddr: peerAddrEnv('GATEWAY', 'group'),
  messageAddr: peerAddrEnv('GATEWAY', 'message'),
  presenceAddr: peerAddrEnv('GATEWAY', 'presence'),
  mediaAddr: peerAddrEnv('GATEWAY', 'media'),
  pushAddr: peerAddrEnv('GATEWAY', 'push'),
  /** The built web client served at `/` (default: the `dist` of the @parley/web dependency, web/dist in the workspace; missing: not served). */
  webDir: env.optionalStr('GATEWAY_WEB_DIR'),
  /** Comma-separated base URLs of the gateways the web client may use (its /config.json); empty: its own origin only. */
  webGateways: env.str('GATEWAY_WEB_GATEWAYS', { default: '' }),
  /** Per-device token buckets, one per rate class (GATEWAY_RATE_<CLASS>_PER_MINUTE / _BURST). */
  rates,
  /** The auth routes' cluster-wide budgets (GATEWAY_AUTH_RATE_<ROUTE>_PER_MINUTE / _BURST). */
  authRates,
  /**
   * Per-user message.send budget, cluster-wide in Redis: shared by every device of the user on every gateway
   * (docs/protocol.md §D). Unset: twice the per-device send budget (GATEWAY_RATE_SEND_*).
   */
  userSendPerMinute: env.int('GATEWAY_USER_RATE_SEND_PER_MINUTE', { optional: true, min: 0 }),
  userSendBurst: env.int('GATEWAY_USER_RATE_SEND_BURST', { optional: true, min: 1 }),
  ...infraEnv.redis,
  ...infraEnv.common,
} as const);

type Raw = ConfigShape<typeof envSpec.schema>;

export interface GatewayConfig {
  host: string;
  port: number;
  instanceId: string;
  heartbeatIntervalMs: number;
  maxFrameBytes: number;
  registryHeartbeatMs: number;
  keysRefreshMs: number;
  upstreamDeadlineMs: number;
  authDeadlineMs: number;
  diagEcho: boolean;
  mediaMaxBytes: number;
  maxConnections: number;
  maxInflightSends: number;
  drainMs: number;
  webDir: string;
  webGateways: string[];
  addrs: { session: string; group: string; message: string; presence: string; media: string; push: string };
  rates: RateConfig;
  /** Cluster-wide per-user budgets (Redis). */
  userRates: { send: { perMinute: number; burst: number } };
  authRates: Record<AuthRateClass, { perMinute: number; burst: number }>;
  trustedProxies: string[];
  loginLockout: { threshold: number; baseMs: number; maxMs: number; windowMs: number };
  redisUrl: string;
  logLevel: string;
  namespace: string;
}

/**
 * `defaults.webDir`: where the web client's build is when GATEWAY_WEB_DIR is not set (main.ts resolves the
 * @parley/web dependency, which ships its `dist`: web/dist in the workspace, node_modules/@parley/web/dist in
 * the image); without it, web/dist under the working directory.
 */
export function envToCfg(raw: Record<string, string | undefined>, defaults: { webDir?: string | undefined } = {}): GatewayConfig {
  const c: Raw = envSpec.parse(raw);
  return {
    host: c.host,
    port: c.port,
    instanceId: c.instanceId ?? `gw-${hostname()}-${c.port}`,
    heartbeatIntervalMs: c.heartbeatIntervalMs,
    maxFrameBytes: c.maxFrameBytes,
    registryHeartbeatMs: c.registryHeartbeatMs,
    keysRefreshMs: c.keysRefreshMs,
    upstreamDeadlineMs: c.upstreamDeadlineMs,
    authDeadlineMs: c.authDeadlineMs,
    diagEcho: c.diagEcho,
    mediaMaxBytes: c.mediaMaxBytes,
    maxConnections: c.maxConnections,
    maxInflightSends: c.maxInflightSends,
    drainMs: c.drainMs,
    webDir: c.webDir ?? defaults.webDir ?? join(process.cwd(), 'web', 'dist'),
    webGateways: c.webGateways.split(',').map((u) => u.trim().replace(/\/+$/, '')).filter(Boolean),
    addrs: {
      session: c.sessionAddr,
      group: c.groupAddr,
      message: c.messageAddr,
      presence: c.presenceAddr,
      media: c.mediaAddr,
      push: c.pushAddr,
    },
    rates: c.rates,
    userRates: {
      send: {
        perMinute: c.userSendPerMinute ?? 2 * c.rates.send.perMinute,
        burst: c.userSendBurst ?? 2 * c.rates.send.burst,
      },
    },
    authRates: c.authRates,
    trustedProxies: c.trustedProxies,
    loginLockout: { threshold: c.loginLockoutThreshold, baseMs: c.loginLockoutBaseMs, maxMs: c.loginLockoutMaxMs, windowMs: c.loginLockoutWindowMs },
    redisUrl: c.redisUrl,
    logLevel: c.logLevel,
    namespace: c.namespace,
  };
}
