// /healthz (alive), /readyz (Redis answers, session reachable, signing keys loaded, not draining), /metrics.
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';

const Status = Type.Object({ status: Type.String(), checks: Type.Optional(Type.Record(Type.String(), Type.Unknown())) });

export async function opsRoutes(app: FastifyInstance): Promise<void> {
  app.get('/healthz', { schema: { response: { 200: Status } } }, async () => ({ status: 'ok' }));

  app.get('/readyz', { schema: { response: { 200: Status, 503: Status } } }, async (_req, reply) => {
    if (app.gw.draining()) return reply.status(503).send({ status: 'draining' });
    const s = await app.gw.readiness.refresh();
    return reply.status(s.ready ? 200 : 503).send({ status: s.ready ? 'ready' : 'not_ready', checks: s.checks });
  });

  app.get('/metrics', async (_req, reply) => {
    const text = await app.gw.metrics.registry.metrics();
    return reply.type(app.gw.metrics.registry.contentType).send(text);
  });
}
