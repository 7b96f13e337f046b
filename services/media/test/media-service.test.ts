// MediaService against the real MinIO, Cassandra and Kafka: presign, real HTTP PUTs, complete and verify,
// mismatches deleted, bad input, expiry sweep, thumbnails of real images and a decompression bomb refused,
// download authorization from links recorded off chat.media.v1.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { create } from '@bufbuild/protobuf';
import sharp from 'sharp';
import { createKafka, createLogger, EventProducer, nsTopic, TOPICS, ParleyError } from '@parley/kit';
import { commonV1, eventsV1 } from '@parley/proto';
import { objectKey, thumbKey } from '../src/domain/media.js';
import { startHarness, putBytes, sha256, type Harness } from './support.js';

const fixture = (f: string) => readFileSync(join(__dirname, 'fixtures', f));

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    if (err instanceof ParleyError) return err.code;
    throw err;
  }
}

jest.setTimeout(60_000);

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ MEDIA_MAX_UPLOAD_BYTES: String(2 * 1024 * 1024), MEDIA_PENDING_TTL_MS: '4000', MEDIA_LINK_WAIT_MS: '3000' });
}, 120_000);
afterAll(async () => h?.stop());

async function upload(user: string, body: Buffer, contentType = 'application/pdf', fileName?: string) {
  const up = await h.client.createUpload({ userId: user, contentType, size: BigInt(body.length), sha256: sha256(body), ...(fileName ? { fileName } : {}) });
  return up;
}

async function uploadReady(user: string, body: Buffer, contentType = 'application/pdf') {
  const up = await upload(user, body, contentType);
  expect((await putBytes(up.uploadUrl, up.uploadHeaders, body)).status).toBe(200);
  const done = await h.client.completeUpload({ userId: user, mediaId: up.mediaId });
  return { mediaId: up.mediaId, media: done.media! };
}

describe('upload and complete', () => {
  it('presigns a PUT bound to the declaration; complete verifies and is idempotent', async () => {
    const body = Buffer.from(`report ${randomUUID()}`);
    const up = await upload('alice', body, 'application/pdf', 'dir/Report Q3.pdf');
    expect(up.uploadHeaders['x-amz-checksum-sha256']).toBe(Buffer.from(sha256(body), 'hex').toString('base64'));
    expect(up.uploadHeaders['content-type']).toBe('application/pdf');
    expect(Number(up.expiresAt)).toBeGreaterThan(Date.now());
    expect(await codeOf(h.client.resolveAttachments({ userId: 'alice', mediaIds: [up.mediaId] }))).toBe('conflict'); // not ready yet
    expect((await putBytes(up.uploadUrl, up.uploadHeaders, body)).status).toBe(200);
    const a = await h.client.completeUpload({ userId: 'alice', mediaId: up.mediaId });
    expect(a.media).toMatchObject({ mediaId: up.mediaId, size: BigInt(body.length), sha256: sha256(body), fileName: 'Report Q3.pdf', contentType: 'application/pdf' });
    const again = await Promise.all([1, 2, 3].map(() => h.client.completeUpload({ userId: 'alice', mediaId: up.mediaId })));
    for (const r of again) expect(r.media!.state).toBe(a.media!.state);
    const r = await h.client.resolveAttachments({ userId: 'alice', mediaIds: [up.mediaId] });
    expect(r.attachments).toEqual([expect.objectContaining({ mediaId: up.mediaId, contentType: 'application/pdf', size: BigInt(body.length), sha256: sha256(body), fileName: 'Report Q3.pdf' })]);
    // The uploader downloads the same bytes through the presigned GET.
    const dl = await h.client.getDownloadUrl({ userId: 'alice', mediaId: up.mediaId, thumbnail: false });
    const got = await fetch(dl.url);
    expect(got.status).toBe(200);
    expect(got.headers.get('content-type')).toBe('application/pdf');
    expect(sha256(Buffer.from(await got.arrayBuffer()))).toBe(sha256(body));
  });

  it('the store refuses a PUT of more, fewer or other bytes, other headers, or after the URL expired', async () => {
    const body = Buffer.from(`exact ${randomUUID()}`);
    const up = await upload('alice', body);
    const refused = async (headers: Record<string, string>, b: Buffer) => {
      const r = await putBytes(up.uploadUrl, headers, b);
      expect([r.status, r.status >= 400 && r.status < 500]).toEqual([r.status, true]);
    };
    await refused(up.uploadHeaders, Buffer.concat([body, Buffer.from('!')])); // content-length is signed
    await refused(up.uploadHeaders, body.subarray(1));
    const other = Buffer.from(body);
    other[0] = other[0]! ^ 1;
    await refused(up.uploadHeaders, other); // x-amz-checksum-sha256 is signed and checked by the store
    await refused({ ...up.uploadHeaders, 'content-type': 'text/html' }, body);
    await refused({ 'content-type': up.uploadHeaders['content-type']! }, body);
    expect(await h.svc.store.stat(objectKey(up.mediaId))).toBeUndefined(); // no orphan bytes
    // Complete before any upload: conflict, and the upload stays usable.
    expect(await codeOf(h.client.completeUpload({ userId: 'alice', mediaId: up.mediaId }))).toBe('conflict');
    expect((await putBytes(up.uploadUrl, up.uploadHeaders, body)).status).toBe(200);
    expect((await h.client.completeUpload({ userId: 'alice', mediaId: up.mediaId })).media!.size).toBe(BigInt(body.length));

    const short = await startHarness({ MEDIA_UPLOAD_URL_TTL_SECONDS: '1' });
    try {
      const up2 = await short.client.createUpload({ userId: 'bob', contentType: 'text/plain', size: BigInt(body.length), sha256: sha256(body) });
      await new Promise((r) => setTimeout(r, 2100));
      expect((await putBytes(up2.uploadUrl, up2.uploadHeaders, body)).status).toBe(403);
      expect(await short.svc.store.stat(objectKey(up2.mediaId))).toBeUndefined();
    } finally {
      await short.stop();
    }
  });

  it('a stored object that does not match (a store that did not enforce) gets conflict and is deleted', async () => {
    const body = Buffer.from(`declared ${randomUUID()}`);
    const up = await upload('alice', body);
    const wrong = Buffer.from(body);
    wrong[wrong.length - 1] = 0x21;
    await h.svc.store.put(objectKey(up.mediaId), wrong, 'application/pdf'); // bypasses the signed checksum
    expect(await codeOf(h.client.completeUpload({ userId: 'alice', mediaId: up.mediaId }))).toBe('conflict');
    expect(await h.svc.store.stat(objectKey(up.mediaId))).toBeUndefined();
    expect(await codeOf(h.client.completeUpload({ userId: 'alice', mediaId: up.mediaId }))).toBe('conflict');
    expect(await codeOf(h.client.getDownloadUrl({ userId: 'alice', mediaId: up.mediaId, thumbnail: false }))).toBe('not_found');

    const up2 = await upload('alice', body);
    await h.svc.store.put(objectKey(up2.mediaId), Buffer.concat([body, body]), 'application/pdf');
    expect(await codeOf(h.client.completeUpload({ userId: 'alice', mediaId: up2.mediaId }))).toBe('conflict');
    expect(await h.svc.store.stat(objectKey(up2.mediaId))).toBeUndefined();

    // Without a store checksum the service streams the object and hashes it: the right bytes pass.
    const up3 = await upload('alice', body);
    await h.svc.store.put(objectKey(up3.mediaId), body, 'application/pdf');
    expect((await h.client.completeUpload({ userId: 'alice', mediaId: up3.mediaId })).media!.sha256).toBe(sha256(body));
  });

  it('bad input gets the protocol codes', async () => {
    const ok = { userId: 'alice', contentType: 'image/png', size: 10n, sha256: 'a'.repeat(64) };
    expect(await codeOf(h.client.createUpload({ ...ok, size: 0n }))).toBe('bad_request');
    expect(await codeOf(h.client.createUpload({ ...ok, size: -5n }))).toBe('bad_request');
    expect(await codeOf(h.client.createUpload({ ...ok, size: BigInt(2 * 1024 * 1024 + 1) }))).toBe('too_large');
    expect(await codeOf(h.client.createUpload({ ...ok, size: 1n << 60n }))).toBe('too_large');
    expect(await codeOf(h.client.createUpload({ ...ok, sha256: 'xyz' }))).toBe('bad_request');
    expect(await codeOf(h.client.createUpload({ ...ok, sha256: 'g'.repeat(64) }))).toBe('bad_request');
    expect(await codeOf(h.client.createUpload({ ...ok, contentType: 'application/x-msdownload' }))).toBe('bad_request');
    expect(await codeOf(h.client.createUpload({ ...ok, contentType: 'not a type' }))).toBe('bad_request');
    expect(await codeOf(h.client.createUpload({ ...ok, fileName: '../' }))).toBe('bad_request');
    expect(await codeOf(h.client.createUpload({ ...ok, contentType: 'IMAGE/PNG; charset=x' }))).toBe('ok');
    const theirs = await uploadReady('carol', Buffer.from(`carol ${randomUUID()}`));
    expect(await codeOf(h.client.completeUpload({ userId: 'alice', mediaId: theirs.mediaId }))).toBe('forbidden');
    expect(await codeOf(h.client.completeUpload({ userId: 'alice', mediaId: randomUUID() }))).toBe('not_found');
    expect(await codeOf(h.client.completeUpload({ userId: 'alice', mediaId: '' }))).toBe('bad_request');
    // A forged mediaId (someone else's ready upload) in a send is refused.
    expect(await codeOf(h.client.resolveAttachments({ userId: 'alice', mediaIds: [theirs.mediaId] }))).toBe('not_found');
    expect(await codeOf(h.client.getDownloadUrl({ userId: 'alice', mediaId: randomUUID(), thumbnail: false }))).toBe('not_found');
  });

  it('presigns for PARLEY_MINIO_PUBLIC_ENDPOINT when set (and those URLs work)', async () => {
    const u = new URL(h.cfg.minioEndpoint);
    const pub = await startHarness({ PARLEY_MINIO_PUBLIC_ENDPOINT: `${u.protocol}//localhost:${u.port}` });
    try {
      const body = Buffer.from(`public ${randomUUID()}`);
      const up = await pub.client.createUpload({ userId: 'pat', contentType: 'text/plain', size: BigInt(body.length), sha256: sha256(body) });
      expect(new URL(up.uploadUrl).host).toBe(`localhost:${u.port}`);
      expect((await putBytes(up.uploadUrl, up.uploadHeaders, body)).status).toBe(200);
      await pub.client.completeUpload({ userId: 'pat', mediaId: up.mediaId });
      const dl = await pub.client.getDownloadUrl({ userId: 'pat', mediaId: up.mediaId, thumbnail: false });
      expect(new URL(dl.url).host).toBe(`localhost:${u.port}`);
      expect(await (await fetch(dl.url)).text()).toBe(body.toString());
    } finally {
      await pub.stop();
    }
  });

  it('the content-type allow list is configurable', async () => {
    const only = await startHarness({ MEDIA_ALLOWED_CONTENT_TYPES: 'image/*,text/plain' });
    try {
      const d = { userId: 'u', size: 10n, sha256: 'b'.repeat(64) };
      expect(await codeOf(only.client.createUpload({ ...d, contentType: 'image/x-anything' }))).toBe('ok');
      expect(await codeOf(only.client.createUpload({ ...d, contentType: 'text/plain' }))).toBe('ok');
      expect(await codeOf(only.client.createUpload({ ...d, contentType: 'application/pdf' }))).toBe('bad_request');
    } finally {
      await only.stop();
    }
  });
});

describe('expiry', () => {
  it('the sweeper expires uploads never completed and deletes their bytes', async () => {
    const body = Buffer.from(`abandoned ${randomUUID()}`);
    const uploaded = await upload('dave', body);
    expect((await putBytes(uploaded.uploadUrl, uploaded.uploadHeaders, body)).status).toBe(200);
    const never = await upload('dave', body);
    const done = await uploadReady('dave', Buffer.from(`kept ${randomUUID()}`));
    await h.svc.manager.sweepOnce(); // young ones are untouched (older uploads of other tests may expire)
    expect(await h.svc.store.stat(objectKey(uploaded.mediaId))).toBeDefined();
    await new Promise((r) => setTimeout(r, 4200));
    const r = await h.svc.manager.sweepOnce();
    expect(r.expired).toBeGreaterThanOrEqual(2);
    expect(await h.svc.store.stat(objectKey(uploaded.mediaId))).toBeUndefined();
    expect(await codeOf(h.client.completeUpload({ userId: 'dave', mediaId: uploaded.mediaId }))).toBe('conflict');
    expect(await codeOf(h.client.completeUpload({ userId: 'dave', mediaId: never.mediaId }))).toBe('conflict');
    // A completed upload is not touched.
    expect(await h.svc.store.stat(objectKey(done.mediaId))).toBeDefined();
    expect(await codeOf(h.client.getDownloadUrl({ userId: 'dave', mediaId: done.mediaId, thumbnail: false }))).toBe('ok');
    expect((await h.svc.manager.sweepOnce()).expired).toBe(0);
  }, 30_000);
});

describe('thumbnails', () => {
  it.each([
    ['photo.jpg', 'image/jpeg'],
    ['photo.png', 'image/png'],
    ['photo.webp', 'image/webp'],
  ])('makes a JPEG thumbnail of %s', async (file, type) => {
    const { mediaId } = await uploadReady('erin', fixture(file), type);
    await h.svc.manager.thumbnailsIdle();
    const dl = await h.client.getDownloadUrl({ userId: 'erin', mediaId, thumbnail: true });
    const res = await fetch(dl.url);
    expect(res.status).toBe(200);
    const meta = await sharp(Buffer.from(await res.arrayBuffer())).metadata();
    expect(meta.format).toBe('jpeg');
    expect(Math.max(meta.width!, meta.height!)).toBe(320);
  });

  it('refuses a decompression bomb cleanly: no thumbnail, the service keeps serving', async () => {
    const bomb = fixture('bomb.png');
    const { mediaId } = await uploadReady('erin', bomb, 'image/png');
    const rss0 = process.memoryUsage().rss;
    await h.svc.manager.thumbnailsIdle();
    expect(process.memoryUsage().rss - rss0).toBeLessThan(200 * 1024 * 1024); // 900 MP were never decoded
    expect(await codeOf(h.client.getDownloadUrl({ userId: 'erin', mediaId, thumbnail: true }))).toBe('not_found');
    expect(await h.svc.store.stat(thumbKey(mediaId))).toBeUndefined();
    // The file itself is still downloadable, and the next image still gets its thumbnail.
    expect(await codeOf(h.client.getDownloadUrl({ userId: 'erin', mediaId, thumbnail: false }))).toBe('ok');
    const next = await uploadReady('erin', fixture('photo.jpg'), 'image/jpeg');
    await h.svc.manager.thumbnailsIdle();
    expect(await codeOf(h.client.getDownloadUrl({ userId: 'erin', mediaId: next.mediaId, thumbnail: true }))).toBe('ok');
  });

  it('no thumbnail for a non-image, nor for an image that is not an image', async () => {
    const doc = await uploadReady('erin', Buffer.from(`doc ${randomUUID()}`), 'application/pdf');
    expect(await codeOf(h.client.getDownloadUrl({ userId: 'erin', mediaId: doc.mediaId, thumbnail: true }))).toBe('not_found');
    const fake = await uploadReady('erin', Buffer.from(`not really a jpeg ${randomUUID()}`), 'image/jpeg');
    await h.svc.manager.thumbnailsIdle();
    expect(await codeOf(h.client.getDownloadUrl({ userId: 'erin', mediaId: fake.mediaId, thumbnail: true }))).toBe('not_found');
  });
});

describe('download authorization', () => {
  it('uploader, and members who joined before a message carrying it; not later joiners, removed members or strangers', async () => {
    const { mediaId } = await uploadReady('owner', Buffer.from(`shared ${randomUUID()}`));
    const chatId = `chat-${randomUUID()}`;
    h.members.set(chatId, [
      { userId: 'owner', joinedSeq: 1, pending: false },
      { userId: 'early', joinedSeq: 1, pending: false },
      { userId: 'late', joinedSeq: 9, pending: false },
      { userId: 'adding', joinedSeq: 2, pending: true },
    ]);
    // Before the message exists nobody but the uploader may fetch it.
    expect(await codeOf(h.client.getDownloadUrl({ userId: 'early', mediaId, thumbnail: false }))).toBe('forbidden');
    await h.client.resolveAttachments({ userId: 'owner', mediaIds: [mediaId] });
    // The link comes from chat.media.v1, as the message service publishes it.
    const logger = createLogger('media-test', 'warn');
    const kafka = createKafka({ brokers: h.cfg.kafkaBrokers, clientId: 'media-test', logger });
    const producer = new EventProducer(kafka, logger);
    await producer.connect();
    const msg = create(commonV1.MessageSchema, {
      chatId,
      seq: 5n,
      messageId: randomUUID(),
      kind: commonV1.MessageKind.USER,
      sender: { userId: 'owner', deviceId: 'd1' },
      clientMsgId: 'client-0001',
      attachments: [{ mediaId, contentType: 'application/pdf', size: 1n, sha256: 'x' }],
      createdAt: BigInt(Date.now()),
    });
    const fetching = h.client.getDownloadUrl({ userId: 'early', mediaId, thumbnail: false }); // waits for the link
    await producer.send(nsTopic(h.ns, TOPICS.chatMedia), eventsV1.ChatMessageEventSchema, chatId, create(eventsV1.ChatMessageEventSchema, { message: msg }));
    await producer.disconnect();
    expect(new URL((await fetching).url).pathname).toContain(mediaId);
    expect(await codeOf(h.client.getDownloadUrl({ userId: 'owner', mediaId, thumbnail: false }))).toBe('ok');
    expect(await codeOf(h.client.getDownloadUrl({ userId: 'late', mediaId, thumbnail: false }))).toBe('forbidden');
    expect(await codeOf(h.client.getDownloadUrl({ userId: 'adding', mediaId, thumbnail: false }))).toBe('forbidden');
    expect(await codeOf(h.client.getDownloadUrl({ userId: 'stranger', mediaId, thumbnail: false }))).toBe('forbidden');
    // A later message carrying it again (seq 12) lets the late joiner see it; removal takes it away.
    await h.svc.manager.recordLink(mediaId, chatId, 12);
    expect(await codeOf(h.client.getDownloadUrl({ userId: 'late', mediaId, thumbnail: false }))).toBe('ok');
    h.members.set(chatId, [{ userId: 'owner', joinedSeq: 1, pending: false }]);
    expect(await codeOf(h.client.getDownloadUrl({ userId: 'early', mediaId, thumbnail: false }))).toBe('forbidden');
  }, 60_000);
});
