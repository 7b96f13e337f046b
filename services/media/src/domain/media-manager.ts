// The media capability (protocol.md §7): create an upload (a presigned PUT bound to the declared size,
// content type and sha256), complete it (verify the stored object against the declaration: the store's own
// checksum when it recorded one, else a streamed sha256, never buffering the object), authorize downloads,
// resolve attachments for message.send, make thumbnails and sweep uploads never completed.
import { createHash, randomUUID } from 'node:crypto';
import { errors } from '@parley/kit';
import { ContentTypePolicy, THUMBNAIL_TYPES } from './content-types.js';
import { validateDeclaration, sha256HexToBase64, type UploadDeclaration } from './upload-rules.js';
import { memberMaySee } from './access.js';
import { State, Thumb, hourOf, objectKey, thumbKey, HOUR_MS, type MediaRecord } from './media.js';
import type { Blobs, MediaRows, MembersPort, ThumbnailPort } from './ports.js';

export interface MediaManagerOptions {
  rows: MediaRows;
  blobs: Blobs;
  members: MembersPort;
  thumbnails: ThumbnailPort;
  allowedContentTypes: readonly string[];
  maxUploadBytes: number;
  uploadUrlTtlSeconds: number;
  downloadUrlTtlSeconds: number;
  pendingTtlMs: number;
  thumbnailMaxInputBytes: number;
  thumbnailConcurrency: number;
  linkWaitMs: number;
  onError?: (msg: string, err: unknown, mediaId: string) => void;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

export interface CreatedUpload {
  mediaId: string;
  url: string;
  headers: Record<string, string>;
  expiresAt: number;
}

/** How far back the sweeper looks for pending uploads (hours). */
const SWEEP_LOOKBACK_HOURS = 24 * 7;

export class MediaManager {
  private readonly policy: ContentTypePolicy;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly completing = new Map<string, Promise<MediaRecord>>();
  private readonly thumbQueue: string[] = [];
  private readonly thumbQueued = new Set<string>();
  private thumbRunning = 0;
  private thumbIdle: Array<() => void> = [];
  private sweepFloorHour: number | undefined;

  constructor(private readonly o: MediaManagerOptions) {
    this.policy = new ContentTypePolicy(o.allowedContentTypes);
    this.now = o.now ?? Date.now;
    this.sleep = o.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  async createUpload(userId: string, decl: UploadDeclaration): Promise<CreatedUpload> {
    if (!userId) throw errors.badRequest('userId is required');
    const d = validateDeclaration(decl, this.policy, this.o.maxUploadBytes);
    const now = this.now();
    const mediaId = randomUUID();
    const expiresAt = now + this.o.uploadUrlTtlSeconds * 1000;
    await this.o.rows.create({
      mediaId,
      ownerUserId: userId,
      contentType: d.contentType,
      size: d.size,
      sha256: d.sha256,
      fileName: d.fileName,
      state: State.pending,
      createdAt: now,
      expiresAt,
      thumbState: Thumb.none,
      resolvedAt: 0,
      linkedAt: 0,
    });
    // The client sends these; content-length is signed too (fetch and browsers set it from the body).
    const headers = { 'content-type': d.contentType, 'x-amz-checksum-sha256': sha256HexToBase64(d.sha256) };
    const url = this.o.blobs.presignedPutBound(objectKey(mediaId), this.o.uploadUrlTtlSeconds, { ...headers, 'content-length': d.size }, new Date(now));
    return { mediaId, url, headers, expiresAt };
  }

  /** Idempotent; concurrent completes of one upload in this process share one verification. */
  completeUpload(userId: string, mediaId: string): Promise<MediaRecord> {
    const running = this.completing.get(mediaId);
    if (running) return running;
    const p = this.complete(userId, mediaId).finally(() => this.completing.delete(mediaId));
    this.completing.set(mediaId, p);
    return p;
  }

  private async owned(userId: string, mediaId: string): Promise<MediaRecord> {
    if (!mediaId) throw errors.badRequest('mediaId is required');
    const m = await this.o.rows.get(mediaId);
    if (!m) throw errors.notFound('no such media');
    if (m.ownerUserId !== userId) throw errors.forbidden('not your upload');
    return m;
  }

  private async complete(userId: string, mediaId: string): Promise<MediaRecord> {
    const m = await this.owned(userId, mediaId);
    if (m.state === State.ready) return m;
    if (m.state === State.failed) throw errors.conflict('the upload did not match its declaration and was deleted; create a new upload');
    if (m.state === State.expired) throw errors.conflict('the upload expired; create a new upload');
    const now = this.now();
    if (now > m.createdAt + this.o.pendingTtlMs) {
      await this.expire(m);
      throw errors.conflict('the upload expired; create a new upload');
    }
    const stat = await this.o.blobs.statChecksum(objectKey(mediaId));
    if (!stat) throw errors.conflict('nothing has been uploaded yet: PUT the bytes to upload.url first');
    let mismatch: string | undefined;
    if (stat.size !== m.size) mismatch = `size ${stat.size} != declared ${m.size}`;
    else {
      const actual = stat.sha256 ?? (await this.streamSha256(objectKey(mediaId)));
      if (actual !== m.sha256) mismatch = 'sha256 differs from the declaration';
    }
    if (mismatch) {
      // Bytes first: a crash after the delete leaves a pending row without bytes, which the sweeper expires.
      await this.o.blobs.remove(objectKey(mediaId));
      await this.o.rows.transition(mediaId, State.failed, now);
      await this.o.rows.unindex(mediaId, m.createdAt).catch(() => {});
      throw errors.conflict(`the stored object does not match the declaration (${mismatch}); it was deleted`);
    }
    if (!(await this.o.rows.transition(mediaId, State.ready, now))) {
      const again = await this.o.rows.get(mediaId, true);
      if (again?.state === State.ready) return again;
      throw errors.conflict('the upload expired; create a new upload');
    }
    await this.o.rows.unindex(mediaId, m.createdAt).catch(() => {}); // the sweeper drops it otherwise
    const ready = { ...m, state: State.ready };
    if (THUMBNAIL_TYPES.has(m.contentType)) this.queueThumbnail(mediaId);
    return ready;
  }

  private async streamSha256(key: string): Promise<string> {
    const h = createHash('sha256');
    for await (const chunk of await this.o.blobs.get(key)) h.update(chunk as Buffer);
    return h.digest('hex');
  }

  /** For message.send: every id a ready upload of `userId`; returns them in the order given. */
  async resolveAttachments(userId: string, mediaIds: string[]): Promise<MediaRecord[]> {
    if (mediaIds.length === 0) return [];
    if (mediaIds.length > 10) throw errors.badRequest('at most 10 attachments');
    const found = await this.o.rows.getMany(mediaIds);
    const out: MediaRecord[] = [];
    for (const id of mediaIds) {
      const m = found.get(id);
      // Someone else's upload is reported as not found: its existence is not the sender's business.
      if (!m || m.ownerUserId !== userId) throw errors.notFound(`attachments: no such media ${id}`);
      if (m.state !== State.ready) throw errors.conflict(`attachments: media ${id} is not ready (complete the upload first)`);
      out.push(m);
    }
    await this.o.rows.markResolved(mediaIds, this.now());
    return out;
  }

  async recordLink(mediaId: string, chatId: string, seq: number): Promise<void> {
    await this.o.rows.recordLink(mediaId, chatId, seq, this.now());
  }

  /** A short-lived presigned GET for the uploader and for members who can see a message carrying it. */
  async downloadUrl(userId: string, mediaId: string, thumbnail: boolean): Promise<{ url: string; expiresAt: number }> {
    if (!mediaId) throw errors.badRequest('mediaId is required');
    const m = await this.o.rows.get(mediaId);
    if (!m || m.state === State.failed || m.state === State.expired) throw errors.notFound('no such media');
    if (m.ownerUserId !== userId && !(await this.mayFetch(userId, m))) throw errors.forbidden('not allowed to fetch this media');
    if (m.state !== State.ready) throw errors.notFound('the upload is not complete');
    const expiresAt = this.now() + this.o.downloadUrlTtlSeconds * 1000;
    if (thumbnail) {
      if (!THUMBNAIL_TYPES.has(m.contentType)) throw errors.notFound('no thumbnail: not an image');
      if (m.thumbState === Thumb.failed) throw errors.notFound('no thumbnail for this image');
      if (m.thumbState !== Thumb.ready) {
        this.queueThumbnail(mediaId); // heals one lost to a crash; deduplicated
        throw errors.notFound('thumbnail not ready yet');
      }
      return { url: await this.o.blobs.presignedGet(thumbKey(mediaId), this.o.downloadUrlTtlSeconds, { 'response-content-type': 'image/jpeg' }), expiresAt };
    }
    const resp: Record<string, string> = { 'response-content-type': m.contentType };
    if (m.fileName) resp['response-content-disposition'] = `attachment; filename*=UTF-8''${encodeURIComponent(m.fileName)}`;
    return { url: await this.o.blobs.presignedGet(objectKey(mediaId), this.o.downloadUrlTtlSeconds, resp), expiresAt };
  }

  private async mayFetch(userId: string, m: MediaRecord): Promise<boolean> {
    const check = async () => {
      for (const link of await this.o.rows.links(m.mediaId)) {
        if (memberMaySee(link, await this.o.members.getMembers(link.chatId), userId)) return true;
      }
      return false;
    };
    if (await check()) return true;
    // The link is recorded from chat.media.v1 (published with chat.messages.v1), alongside the fan-out that
    // delivers the message: a recipient who fetches at once may be ahead of it. Only while a send that used the media (in the last minute) has
    // no link yet (resolved after the last link was recorded), wait for it briefly.
    const deadline = this.now() + this.o.linkWaitMs;
    const awaitingLink = (x: MediaRecord) => x.resolvedAt > x.linkedAt && x.resolvedAt >= this.now() - 60_000;
    if (!awaitingLink(m)) return false;
    while (this.now() < deadline) {
      await this.sleep(100);
      const again = await this.o.rows.get(m.mediaId); // read before the links: linked_at is written after them
      if (await check()) return true;
      if (!again || !awaitingLink(again)) return false;
    }
    return false;
  }

  // --- thumbnails -------------------------------------------------------------------------------------

  queueThumbnail(mediaId: string): void {
    if (this.thumbQueued.has(mediaId)) return;
    this.thumbQueued.add(mediaId);
    this.thumbQueue.push(mediaId);
    this.pumpThumbnails();
  }

  /** Resolves when no thumbnail job is queued or running (tests, bench, shutdown). */
  thumbnailsIdle(): Promise<void> {
    if (this.thumbRunning === 0 && this.thumbQueue.length === 0) return Promise.resolve();
    return new Promise((r) => this.thumbIdle.push(r));
  }

  private pumpThumbnails(): void {
    while (this.thumbRunning < this.o.thumbnailConcurrency && this.thumbQueue.length > 0) {
      const id = this.thumbQueue.shift()!;
      this.thumbRunning += 1;
      void this.makeThumbnail(id)
        .catch((err: unknown) => this.o.onError?.('thumbnail job failed', err, id))
        .finally(() => {
          this.thumbRunning -= 1;
          this.thumbQueued.delete(id);
          this.pumpThumbnails();
          if (this.thumbRunning === 0 && this.thumbQueue.length === 0) for (const r of this.thumbIdle.splice(0)) r();
        });
    }
  }

  private async makeThumbnail(mediaId: string): Promise<void> {
    const m = await this.o.rows.get(mediaId);
    if (!m || m.state !== State.ready || m.thumbState !== Thumb.none) return;
    if (!THUMBNAIL_TYPES.has(m.contentType) || m.size > this.o.thumbnailMaxInputBytes) {
      await this.o.rows.setThumbState(mediaId, Thumb.failed);
      return;
    }
    let jpeg: Buffer;
    try {
      jpeg = await this.o.thumbnails.render(await this.o.blobs.get(objectKey(mediaId)));
    } catch (err) {
      // A refused image (pixel limit, corrupt, timeout): the file stays downloadable, it just has no thumbnail.
      this.o.onError?.('thumbnail refused', err, mediaId);
      await this.o.rows.setThumbState(mediaId, Thumb.failed);
      return;
    }
    await this.o.blobs.put(thumbKey(mediaId), jpeg, 'image/jpeg');
    await this.o.rows.setThumbState(mediaId, Thumb.ready);
  }

  // --- expiry ---------------------------------------------------------------------------------------

  private async expire(m: MediaRecord): Promise<void> {
    if (await this.o.rows.transition(m.mediaId, State.expired, this.now())) {
      await this.o.blobs.remove(objectKey(m.mediaId));
    }
  }

  /**
   * One sweep: every pending upload older than the pending TTL is expired (LWT) and its bytes, if any, are
   * deleted; rows of failed or expired uploads get their bytes deleted again (idempotent, heals a crash
   * between the two steps); index rows of completed uploads are dropped. Safe to run on every replica.
   */
  async sweepOnce(): Promise<{ expired: number; scanned: number }> {
    const now = this.now();
    const lastHour = hourOf(now - this.o.pendingTtlMs);
    const firstHour = this.sweepFloorHour ?? hourOf(now) - SWEEP_LOOKBACK_HOURS;
    let expired = 0;
    let scanned = 0;
    let floor: number | undefined;
    for (let h = firstHour; h <= lastHour; h++) {
      const ids = await this.o.rows.pendingInHour(h);
      let left = 0;
      for (const id of ids) {
        scanned += 1;
        const m = await this.o.rows.get(id);
        if (!m) {
          // An index row whose media row never got written (crash between the two inserts).
          if ((h + 1) * HOUR_MS + this.o.pendingTtlMs < now) await this.o.rows.deleteIndexRow(h, id);
          else left += 1;
          continue;
        }
        if (m.state === State.pending) {
          if (m.createdAt + this.o.pendingTtlMs >= now) {
            left += 1;
            continue;
          }
          if (await this.o.rows.transition(id, State.expired, now)) {
            expired += 1;
            await this.o.blobs.remove(objectKey(id));
          } else if ((await this.o.rows.get(id, true))?.state !== State.ready) {
            await this.o.blobs.remove(objectKey(id)); // failed or expired meanwhile
          }
        } else if (m.state === State.failed || m.state === State.expired) {
          await this.o.blobs.remove(objectKey(id));
        }
        await this.o.rows.deleteIndexRow(h, id);
      }
      if (left > 0 && floor === undefined) floor = h;
    }
    this.sweepFloorHour = floor ?? lastHour; // the last hour is rescanned: uploads may still land in it
    return { expired, scanned };
  }
}
