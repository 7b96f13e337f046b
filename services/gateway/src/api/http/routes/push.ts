// GET /v1/push/vapid-public-key: the server's VAPID public key (base64url, uncompressed P-256 point) for
// PushManager.subscribe({applicationServerKey}). Public information, so no authentication; 404 not_found when
// Web Push is not configured (docs/protocol.md "Push").
import type { FastifyInstance } from 'fastify';
import { errors } from '@parley/kit';
import { Type } from '@sinclair/typebox';
import { responses } from '../schemas.js';

export async function pushRoutes(app: FastifyInstance): Promise<void> {
  const { push } = app.gw.upstreams;
  app.get(
    '/v1/push/vapid-public-key',
    { schema: { response: responses({ 200: Type.Object({ publicKey: Type.String() }) }) } },
    async (_req, reply) => {
      const res = await push.getVapidPublicKey({});
      if (!res.publicKey) throw errors.notFound('web push is not configured');
      return reply.header('cache-control', 'public, max-age=300').send({ publicKey: res.publicKey });
    },
  );
}
