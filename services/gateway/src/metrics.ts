// The gateway's Prometheus metrics, made once by wiring.ts and handed to the api (ws, http).
import { createMetrics, type Metrics } from '@parley/kit';

type Counter<_T = string> = ReturnType<Metrics['counter']>;
type Gauge<_T = string> = ReturnType<Metrics['gauge']>;
type Histogram<_T = string> = ReturnType<Metrics['histogram']>;

export interface GatewayMetrics {
  registry: Metrics['registry'];
  connections: Gauge<string>;
  /** Upgrades authenticated and registering or registered, not yet ready (connection-manager.ts). */
  handshaking: Gauge<string>;
  framesIn: Counter<string>;
  framesOut: Counter<string>;
  errors: Counter<string>;
  handshake: Histogram<string>;
  requestSeconds: Histogram<string>;
  deliveries: Counter<string>;
  closes: Counter<string>;
  /** Requests refused by a cluster-wide per-user budget / let through unchecked because Redis failed (user-limits.ts). */
  userLimited: Counter<string>;
  userLimitUnchecked: Counter<string>;
  /** Delivery-subscription gaps and the backlog passes / messages they triggered (message-stream.ts). */
  resyncs: Counter<string>;
  resyncMessages: Counter<string>;
}

export function createGatewayMetrics(): GatewayMetrics {
  const m = createMetrics('gateway');
  return {
    registry: m.registry,
    connections: m.gauge('parley_gateway_connections', 'Open authenticated WebSocket connections'),
    handshaking: m.gauge('parley_gateway_handshaking', 'Upgrades registering or registered before the 101, not yet ready'),
    framesIn: m.counter('parley_gateway_frames_in_total', 'Client frames received, by op (or "invalid")', ['op']),
    framesOut: m.counter('parley_gateway_frames_out_total', 'Frames sent to clients, by kind (reply, error, event name)', ['kind']),
    errors: m.counter('parley_gateway_errors_total', 'Errors returned to clients, by transport and code', ['transport', 'code']),
    handshake: m.histogram('parley_gateway_handshake_seconds', 'Upgrade request to session.ready sent'),
    requestSeconds: m.histogram('parley_gateway_request_seconds', 'WebSocket request handling time, by op', ['op']),
    deliveries: m.counter('parley_gateway_deliveries_total', 'Gateway deliveries received from Redis, by payload', ['payload']),
    closes: m.counter('parley_gateway_closes_total', 'Connections closed, by close code', ['code']),
    userLimited: m.counter('parley_gateway_user_rate_limited_total', 'Requests refused by a per-user cluster-wide budget, by op', ['op']),
    resyncs: m.counter('parley_gateway_resyncs_total', 'Delivery subscription gaps after which every connected device was resynchronised from its cursor'),
    resyncMessages: m.counter('parley_gateway_resync_messages_total', 'Messages sent to connected devices by a resynchronisation pass'),
    userLimitUnchecked: m.counter('parley_gateway_user_limit_unchecked_total', 'Requests let through without the per-user check (Redis failed or slow), by op', ['op']),
  };
}
