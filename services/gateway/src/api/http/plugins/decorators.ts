// App decorators: the gateway's shared parts on the instance, `request.auth`, and `authenticate`
// (an onRequest hook for routes that need `Authorization: Bearer`).
import fp from 'fastify-plugin';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ReadinessMonitor } from '@parley/kit';
import type { GatewayConfig } from '../../../config.js';
import type { GatewayMetrics } from '../../../metrics.js';
import type { Upstreams } from '../../../adapters/upstreams.js';
import type { AuthContext, Authenticator } from '../../auth/authenticator.js';
import type { AuthLimits } from '../../../adapters/auth-limits.js';
import { bearerToken } from '../../auth/token-verifier.js';
import type { ConnectionManager } from '../../ws/connection-manager.js';

export interface GatewayApp {
  cfg: GatewayConfig;
  upstreams: Upstreams;
  authenticator: Authenticator;
  authLimits: AuthLimits;
  connections: ConnectionManager;
  metrics: GatewayMetrics;
  readiness: ReadinessMonitor;
  /** True once SIGTERM started: readyz 503, upgrades refused. */
  draining(): boolean;
}

declare module 'fastify' {
  interface FastifyInstance {
    gw: GatewayApp;
    authenticate: (req: FastifyRequest, reply: FastifyReply) => Promise<void>;
  }
  interface FastifyRequest {
    auth: AuthContext | null;
  }
}

/** The authenticated caller of a route behind `authenticate`. */
export function authOf(req: FastifyRequest): AuthContext {
  if (!req.auth) throw new Error('route is missing the authenticate preHandler');
  return req.auth;
}

export const decoratorsPlugin = fp(
  async (app: FastifyInstance, gw: GatewayApp) => {
    app.decorate('gw', gw);
    app.decorateRequest('auth', null);
    app.decorate('authenticate', async (req: FastifyRequest) => {
      req.auth = await gw.authenticator.authenticate(bearerToken(req.headers.authorization));
    });
  },
  { name: 'gateway-decorators', dependencies: ['gateway-infrastructure'] },
);
