// GatewayService: the HTTP + WebSocket edge. create → start → destroy (idempotent).
import { checks, createLogger, createRedis, gatewayBroadcastChannel, gatewayChannel, once, readinessMonitor, type Logger, type ReadinessMonitor, type Redis } from '@parley/kit';
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

export class GatewayService {
  private draining = false;
  private keyRetry: NodeJS.Timeout | undefined;
  readonly destroy: () => Promise<void>;

  private constructor(
    readonly cfg: GatewayConfig,
    readonly logger: Logger,
    readonly upstreams: Upstreams,
    readonly metrics: GatewayMetrics,
    private readonly redis: Redis,
    private readonly deliveries: DeliveryChannel,
    readonly verifier: TokenVerifier,
    readonly connections: ConnectionManager,
    private readonly readiness: ReadinessMonitor,
    readonly app: FastifyInstance,
  ) {
    this.destroy = once(() => this.shutdown());
  }

  static async create(cfg: GatewayConfig, overrides: GatewayOverrides = {}): Promise<GatewayService> {
    const logger = overrides.logger ?? createLogger('gateway', cfg.logLevel);
    const upstreams = overrides.upstreams ?? createUpstreams(cfg);
    const metrics = createGatewayMetrics();
    const redis = createRedis(cfg.redisUrl, { logger, name: 'gateway' });
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
    let draining = false;
    const readiness = readinessMonitor({
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
    const svc: { ref?: GatewayService } = {};
    const app = await buildApp(
      {
        cfg,
        upstreams,
        authenticator,
        authLimits: new AuthLimits(redis, cfg, logger.child({ subsystem: 'auth-limits' })),
        connections,
        metrics,
        readiness,
        draining: () => svc.ref?.draining ?? draining,
      },
      logger,
    );
    draining = false;
    svc.ref = new GatewayService(cfg, logger, upstreams, metrics, redis, deliveries, verifier, connections, readiness, app);
    return svc.ref;
  }

  async start(): Promise<void> {
    await this.deliveries.start();
    // Keys load in the background until session answers; /readyz stays 503 meanwhile.
    const loadKeys = () =>
      this.verifier.refresh().then(
        () => this.logger.info('signing keys loaded'),
        (err: unknown) => {
          this.logger.warn({ err }, 'signing keys not loaded yet; retrying');
          this.keyRetry = setTimeout(loadKeys, 1000);
        },
      );
    await loadKeys();
    this.verifier.start();
    this.connections.start();
    await this.app.listen({ host: this.cfg.host, port: this.cfg.port });
    this.logger.info({ port: this.cfg.port, instanceId: this.cfg.instanceId }, 'gateway listening (HTTP + WebSocket /v1/ws)');
  }

  get port(): number {
    const a = this.app.server.address();
    return typeof a === 'object' && a ? a.port : this.cfg.port;
  }

  /** SIGTERM: stop accepting (readyz 503, upgrades 503), close every WebSocket with 1012, unregister, drain, close. */
  private async shutdown(): Promise<void> {
    this.draining = true;
    this.readiness.drain();
    if (this.keyRetry) clearTimeout(this.keyRetry);
    this.logger.info({ connections: this.connections.size }, 'draining: closing WebSockets with 1012');
    await this.connections.closeAll(CLOSE.restart, 'server restart', Math.max(500, this.cfg.drainMs));
    await this.app.close().catch((err: unknown) => this.logger.warn({ err }, 'http close failed'));
    this.readiness.stop();
    this.verifier.stop();
    this.connections.stop();
    await this.deliveries.close();
    await this.redis.quit().catch(() => this.redis.disconnect());
    for (const c of Object.values(this.upstreams)) c.close();
  }
}
