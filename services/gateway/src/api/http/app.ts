// The fastify app: infrastructure plugins, then decorators, then routes (conventions.md §10).
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import type { Logger } from '@parley/kit';
import { infrastructurePlugin } from './plugins/infrastructure.js';
import { decoratorsPlugin, type GatewayApp } from './plugins/decorators.js';
import { accountRoutes } from './routes/accounts.js';
import { mediaRoutes } from './routes/media.js';
import { opsRoutes } from './routes/ops.js';
import { pushRoutes } from './routes/push.js';
import { webRoutes } from './routes/web.js';
import { websocketRoutes } from './routes/websocket.js';

export async function buildApp(gw: GatewayApp, logger: Logger): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: logger.child({ subsystem: 'http' }),
    // The default request log would print the URL, and `access_token` may be in it.
    disableRequestLogging: true,
    bodyLimit: 64 * 1024,
    // X-Forwarded-For is believed only from the configured proxies: the per-address limits of the auth routes
    // would otherwise be one spoofed header away.
    trustProxy: gw.cfg.trustedProxies.length > 0 ? gw.cfg.trustedProxies : false,
    return503OnClosing: true,
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
    // Router-level refusals (a path segment over maxParamLength, a malformed percent-encoding) bypass the error
    // handler; they get the protocol.md §6 shape too (found by e2e/edge/fuzz-http.test.ts).
    frameworkErrors: (err, _req, reply: FastifyReply) => {
      gw.metrics.errors.inc({ transport: 'http', code: 'bad_request' });
      const message = err.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 'a path segment is too long' : 'malformed URL';
      void reply.status(400).send({ error: { code: 'bad_request', message } });
    },
  }) as unknown as FastifyInstance;
  app.addHook('onResponse', async (req, reply) => {
    if (reply.statusCode >= 500) req.log.warn({ method: req.method, route: req.routeOptions.url, status: reply.statusCode }, 'request failed');
  });
  await app.register(infrastructurePlugin, { maxFrameBytes: gw.cfg.maxFrameBytes, metrics: gw.metrics });
  await app.register(decoratorsPlugin, gw);
  await app.register(opsRoutes);
  await app.register(accountRoutes);
  await app.register(mediaRoutes);
  await app.register(pushRoutes);
  await app.register(websocketRoutes);
  await app.register(webRoutes);
  return app;
}
