// gRPC transport of parley.media.v1.MediaService: decodes requests, calls the domain, maps results. The
// gateway passes the authenticated userId; message passes the sender's.
import { create } from '@bufbuild/protobuf';
import { commonV1, mediaV1 } from '@parley/proto';
import { errors, type ServiceImpl } from '@parley/kit';
import type { MediaManager } from '../../domain/media-manager.js';
import { State, type MediaRecord } from '../../domain/media.js';

export function mediaToProto(m: MediaRecord): mediaV1.Media {
  return create(mediaV1.MediaSchema, {
    mediaId: m.mediaId,
    ownerUserId: m.ownerUserId,
    contentType: m.contentType,
    size: BigInt(m.size),
    sha256: m.sha256,
    ...(m.fileName !== undefined ? { fileName: m.fileName } : {}),
    state: m.state === State.ready ? mediaV1.MediaState.READY : mediaV1.MediaState.PENDING,
    createdAt: BigInt(m.createdAt),
  });
}

function safeSize(v: bigint): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) throw errors.tooLarge('size is out of range');
  return Number(v);
}

export function mediaServiceImpl(mgr: MediaManager): ServiceImpl<typeof mediaV1.MediaService> {
  return {
    async createUpload(req) {
      const r = await mgr.createUpload(req.userId, {
        contentType: req.contentType,
        size: safeSize(req.size),
        sha256: req.sha256,
        fileName: req.fileName,
      });
      return create(mediaV1.CreateUploadResponseSchema, { mediaId: r.mediaId, uploadUrl: r.url, uploadHeaders: r.headers, expiresAt: BigInt(r.expiresAt) });
    },
    async completeUpload(req) {
      return create(mediaV1.CompleteUploadResponseSchema, { media: mediaToProto(await mgr.completeUpload(req.userId, req.mediaId)) });
    },
    async getDownloadUrl(req) {
      const r = await mgr.downloadUrl(req.userId, req.mediaId, req.thumbnail);
      return create(mediaV1.GetDownloadUrlResponseSchema, { url: r.url, expiresAt: BigInt(r.expiresAt) });
    },
    async resolveAttachments(req) {
      const found = await mgr.resolveAttachments(req.userId, [...req.mediaIds]);
      return create(mediaV1.ResolveAttachmentsResponseSchema, {
        attachments: found.map((m) =>
          create(commonV1.AttachmentSchema, {
            mediaId: m.mediaId,
            contentType: m.contentType,
            size: BigInt(m.size),
            sha256: m.sha256,
            ...(m.fileName !== undefined ? { fileName: m.fileName } : {}),
          }),
        ),
      });
    },
  };
}
