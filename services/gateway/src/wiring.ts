// GatewayService: the HTTP + WebSocket edge. create → start → destroy (idempotent).
import { checks, createLogger, createRedis, gatewayBroadcastChannel, gatewayChannel, Lifecycle, LifecycleService, type Logger } from '@parley/kit';
import type { FastifyInstance } from 'fastify';
import type { GatewayConfig } from './config.js';
import { createGatewayMetrics, type GatewayMetrics } from './metrics.js';
import { createUpstreams, type Upstreams } from './adapters/upstreams.js';
import { DeliveryChannel } from './api/redis/delivery-channel.js';
import { Authenticator } from './api/auth/authenticator.js';
import { AuthLimits } from './adapters/auth-limits.js';
import { UserLimits } from './adapters/user-limits.js';
import { TokenVerifier } from './api/auth/token-verifier.js';
import { buildApp } from './api/http/app.js';
import { ConnectionManager } from './api/ws/connection-manager.js';
import { CLOSE } from './api/ws/websocket-connection.js';

export interface GatewayOverrides {
  logger?: Logger;
  upstreams?: Upstreams;
}

export class GatewayService extends LifecycleService {
  private keyRetry: NodeJS.Timeout | undefined;

  private constructor(
    readonly cfg: GatewayConfig,
    readonly logger: Logger,
    readonly upstreams: Upstreams,
    readonly metrics: GatewayMetrics,
    readonly verifier: TokenVerifier,
    readonly connections: ConnectionManager,
    readonly app: FastifyInstance,
    readonly life: Lifecycle,
  ) {
    super();
  }

  static async create(cfg: GatewayConfig, overrides: GatewayOverrides = {}): Promise<GatewayService> {
    const logger = overrides.logger ?? createLogger('gateway', cfg.logLevel);
    const upstreams = overrides.upstreams ?? createUpstreams(cfg);
    const metrics = createGatewayMetrics();
    const redis = createRedis(cfg.redisUrl, { logger, name: 'gateway', autoPipelining: true });
    const verifier = new TokenVerifier(upstreams.session, logger.child({ subsystem: 'keys' }), cfg.keysRefreshMs);
    const authenticator = new Authenticator(verifier, upstreams.session);
    const userLimits = new UserLimits(redis, cfg, logger.child({ subsystem: 'user-limits' }), metrics.userLimitUnchecked);
    const connections = new ConnectionManager(cfg, logger.child({ subsystem: 'ws' }), metrics, upstreams, userLimits);
    const deliveries = new DeliveryChannel(
      cfg.redisUrl,
      gatewayChannel(cfg.namespace, cfg.instanceId),
      gatewayBroadcastChannel(cfg.namespace),
      logger.child({ subsystem: 'deliveries' }),
      (d) => connections.deliver(d),
      () => connections.resync(),
      `gateway-deliveries:${cfg.instanceId}`,
    );
    // No gRPC server here: /healthz /readyz /metrics are routes of the HTTP app (api/http/routes/ops.ts).
    const life = new Lifecycle({
      name: 'gateway',
      logger,
      checks: {
        redis: checks.redis(redis),
        deliveries: () => deliveries.check(),
        session: () => upstreams.session.waitForReady(1000),
        signingKeys: async () => {
          if (!verifier.loaded) throw new Error('signing keys not loaded');
        },
      },
    });
    const app = await buildApp(
      {
        cfg,
        upstreams,
        authenticator,
        authLimits: new AuthLimits(redis, cfg, logger.child({ subsystem: 'auth-limits' })),
        connections,
        metrics,
        readiness: life.readiness(),
        draining: () => life.stopped,
      },
      logger,
    );
    const svc = new GatewayService(cfg, logger, upstreams, metrics, verifier, connections, app, life);
    life
      .onStart('deliveries', () => deliveries.start())
      // Keys load in the background until session answers; /readyz stays 503 meanwhile.
      .onStart('signing keys', () => svc.loadKeys())
      .onStart('key refresh', () => verifier.start())
      .onStart('connections', () => connections.start())
      .onStart('http', async () => {
        await app.listen({ host: cfg.host, port: cfg.port });
        logger.info({ port: cfg.port, instanceId: cfg.instanceId }, 'gateway listening (HTTP + WebSocket /v1/ws)');
      });
    // SIGTERM: stop accepting (readyz 503, upgrades 503), close every WebSocket with 1012, unregister, drain, close.
    life
      .onStop('key retry', () => svc.keyRetry && clearTimeout(svc.keyRetry))
      .onStop('websockets', () => {
        logger.info({ connections: connections.size }, 'draining: closing WebSockets with 1012');
        return connections.closeAll(CLOSE.restart, 'server restart', Math.max(500, cfg.drainMs));
      })
      .onStop('http', () => app.close().catch((err: unknown) => logger.warn({ err }, 'http close failed')))
      .onStop('key refresh', () => verifier.stop())
      .onStop('connections', () => connections.stop())
      .onStop('deliveries', () => deliveries.close())
      .onStop('redis', () => redis.quit().catch(() => redis.disconnect()))
      .onStop('upstreams', () => {
        for (const c of Object.values(upstreams)) c.close();
      });
    return svc;
  }

  private loadKeys(): Promise<void> {
    return this.verifier.refresh().then(
      () => this.logger.info('signing keys loaded'),
      (err: unknown) => {
        this.logger.warn({ err }, 'signing keys not loaded yet; retrying');
        this.keyRetry = setTimeout(() => void this.loadKeys(), 1000);
      },
    );
  }

  get port(): number {
    const a = this.app.server.address();
    return typeof a === 'object' && a ? a.port : this.cfg.port;
  }
}
