import { defineConfig, env, infraEnv, listenEnv, peerAddrEnv, type ConfigShape } from '@parley/kit';
import { DEFAULT_ALLOWED_CONTENT_TYPES } from './domain/content-types.js';

export const envSpec = defineConfig({
  ...infraEnv.common,
  ...infraEnv.cassandra,
  ...infraEnv.kafka,
  ...infraEnv.minio,
  ...listenEnv('MEDIA', { grpcPort: 50055, httpPort: 9465 }),
  groupAddr: peerAddrEnv('MEDIA', 'group'),
  maxUploadBytes: env.int('MEDIA_MAX_UPLOAD_BYTES', { default: 100 * 1024 * 1024, min: 1 }),
  /** Comma-separated MIME types (exact, or `type/*`) a client may declare. */
  allowedContentTypes: env.list('MEDIA_ALLOWED_CONTENT_TYPES', { default: DEFAULT_ALLOWED_CONTENT_TYPES }),
  uploadUrlTtlSeconds: env.int('MEDIA_UPLOAD_URL_TTL_SECONDS', { default: 900, min: 1, max: 7 * 24 * 3600 }),
  downloadUrlTtlSeconds: env.int('MEDIA_DOWNLOAD_URL_TTL_SECONDS', { default: 300, min: 1, max: 7 * 24 * 3600 }),
  /** An upload not completed this long after it was created is expired: its row and any bytes are deleted. */
  pendingTtlMs: env.int('MEDIA_PENDING_TTL_MS', { default: 2 * 3600_000, min: 1000 }),
  sweepIntervalMs: env.int('MEDIA_SWEEP_INTERVAL_MS', { default: 60_000, min: 100 }),
  thumbnailMaxPixels: env.int('MEDIA_THUMBNAIL_MAX_PIXELS', { default: 50_000_000, min: 1 }),
  thumbnailMaxInputBytes: env.int('MEDIA_THUMBNAIL_MAX_INPUT_BYTES', { default: 40 * 1024 * 1024, min: 1 }),
  thumbnailSize: env.int('MEDIA_THUMBNAIL_SIZE', { default: 320, min: 16, max: 2048 }),
  thumbnailConcurrency: env.int('MEDIA_THUMBNAIL_CONCURRENCY', { default: 1, min: 1, max: 16 }),
  thumbnailTimeoutSeconds: env.int('MEDIA_THUMBNAIL_TIMEOUT_SECONDS', { default: 20, min: 1 }),
  /** How long a download of just-sent media waits for the media→chat link (recorded from chat.media.v1). */
  linkWaitMs: env.int('MEDIA_LINK_WAIT_MS', { default: 3000, min: 0 }),
});
export type MediaConfig = ConfigShape<typeof envSpec.schema>;
