// protocol.md §7: media routes, forwarded to MediaService (bytes never pass through the gateway).
import type { FastifyInstance } from 'fastify';
import type { Static } from '@sinclair/typebox';
import { errors } from '@parley/kit';
import { Type } from '@sinclair/typebox';
import { isoFromMs, mediaToJson } from '../../wire/mapping.js';
import { authOf } from '../plugins/decorators.js';
import { CreateUploadBody, CreateUploadReply, Empty, MediaParams, MediaReply, responses } from '../schemas.js';

export async function mediaRoutes(app: FastifyInstance): Promise<void> {
  const { media } = app.gw.upstreams;
  const maxBytes = app.gw.cfg.mediaMaxBytes;

  app.post<{ Body: Static<typeof CreateUploadBody> }>(
    '/v1/media',
    { onRequest: app.authenticate, schema: { body: CreateUploadBody, response: responses({ 201: CreateUploadReply }) } },
    async (req, reply) => {
      const b = req.body;
      if (b.size > maxBytes) throw errors.tooLarge(`size must be at most ${maxBytes} bytes`);
      const res = await media.createUpload({
        userId: authOf(req).userId,
        contentType: b.contentType,
        size: BigInt(b.size),
        sha256: b.sha256.toLowerCase(),
        ...(b.fileName !== undefined ? { fileName: b.fileName } : {}),
      });
      return reply.status(201).send({
        mediaId: res.mediaId,
        upload: { method: 'PUT', url: res.uploadUrl, headers: { ...res.uploadHeaders } },
        expiresAt: isoFromMs(res.expiresAt),
      });
    },
  );

  app.post<{ Params: Static<typeof MediaParams> }>(
    '/v1/media/:mediaId/complete',
    {
      onRequest: app.authenticate,
      schema: { params: MediaParams, body: Type.Optional(Empty), response: responses({ 200: MediaReply }) },
    },
    async (req) => ({ media: mediaToJson((await media.completeUpload({ userId: authOf(req).userId, mediaId: req.params.mediaId })).media) }),
  );

  const download = (thumbnail: boolean) =>
    async (req: { params: Static<typeof MediaParams> } & Parameters<typeof authOf>[0], reply: import('fastify').FastifyReply) => {
      const res = await media.getDownloadUrl({ userId: authOf(req).userId, mediaId: req.params.mediaId, thumbnail });
      return reply.header('cache-control', 'no-store').redirect(res.url, 302);
    };

  app.get<{ Params: Static<typeof MediaParams> }>(
    '/v1/media/:mediaId',
    { onRequest: app.authenticate, schema: { params: MediaParams, response: responses({}) } },
    (req, reply) => download(false)(req, reply),
  );
  app.get<{ Params: Static<typeof MediaParams> }>(
    '/v1/media/:mediaId/thumbnail',
    { onRequest: app.authenticate, schema: { params: MediaParams, response: responses({}) } },
    (req, reply) => download(true)(req, reply),
  );
}
