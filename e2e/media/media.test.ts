// Media end to end through two gateways (protocol.md §7, §4 message.send attachments, §8.2, §8.8): upload
// on one gateway, send with the attachment, the recipient on the other gateway gets the message and fetches
// the bytes through the 302 (sha256 matches) and the thumbnail; strangers, later joiners and removed members
// get 403; a forged mediaId in message.send is refused; bad input gets protocol codes; kill -9 of the media
// service during a burst of completes leaves nothing both ready and missing, nor pending forever.
import { randomUUID } from 'node:crypto';
import sharp from 'sharp';
import { ParleyHttp, ParleyRequestError, type Message } from '@parley/client';
import { createObjectStore } from '@parley/kit';
import { chatMesh, Device, newUser, sleep, type Mesh } from '../chat/helpers';
import { download, fixture, sha256, uploadMedia } from './helpers';

/** Uploads never completed expire after this (short, so the kill -9 test can watch it happen). */
const PENDING_TTL_MS = 45_000;

let mesh: Mesh;
beforeAll(async () => {
  mesh = await chatMesh({ MEDIA_PENDING_TTL_MS: String(PENDING_TTL_MS), MEDIA_SWEEP_INTERVAL_MS: '1000', MEDIA_MAX_UPLOAD_BYTES: String(8 * 1024 * 1024), GATEWAY_MEDIA_MAX_BYTES: String(8 * 1024 * 1024) });
});
afterAll(async () => mesh?.stop());

const httpOf = (d: Device, gw: number) => new ParleyHttp(mesh.gatewayUrls[gw]!, d.accessToken);
const store = () =>
  createObjectStore({
    endpoint: mesh.env['PARLEY_MINIO_ENDPOINT']!,
    accessKey: mesh.env['PARLEY_MINIO_ACCESS_KEY']!,
    secretKey: mesh.env['PARLEY_MINIO_SECRET_KEY']!,
    bucket: mesh.env['PARLEY_MINIO_BUCKET'] ?? 'media',
  });

/** As a client does: retry 503 `unavailable` with a pause (the gateways reconnect to a restarted service). */
async function retryUnavailable<T extends { status: number }>(f: () => Promise<T>, timeoutMs = 20_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const r = await f();
    if (r.status !== 503 || Date.now() - t0 > timeoutMs) return r;
    await sleep(250);
  }
}

async function sendCode(d: Device, data: Record<string, unknown>): Promise<string> {
  try {
    await d.c.request('message.send', data as never);
    return 'ok';
  } catch (err) {
    if (err instanceof ParleyRequestError) return err.code;
    throw err;
  }
}

it('photo: upload, send, recipient on the other gateway fetches bytes and thumbnail; others get 403', async () => {
  const [alice, bob, carol, dave, eve] = await Promise.all(['alice', 'bob', 'carol', 'dave', 'eve'].map(async (n) => new Device(mesh, await newUser(mesh, n), n).login()));
  await Promise.all([alice!.connect(0), bob!.connect(1), carol!.connect(1), dave!.connect(0), eve!.connect(1)]);
  const { chat } = await alice!.c.request('chat.create', { type: 'group', name: 'photos', members: [bob!.userId, dave!.userId] });
  const photo = fixture('photo.jpg');
  const up = await uploadMedia(httpOf(alice!, 0), photo, 'image/jpeg', 'beach.jpg');
  expect(up.media).toMatchObject({ mediaId: up.mediaId, contentType: 'image/jpeg', size: photo.length, sha256: sha256(photo), fileName: 'beach.jpg', state: 'ready' });

  // A forged mediaId: eve, in her own chat with alice, uses alice's upload.
  const { chat: evesChat } = await eve!.c.request('chat.create', { type: 'direct', userId: alice!.userId });
  expect(await sendCode(eve!, { chatId: evesChat.chatId, clientMsgId: randomUUID(), body: {}, attachments: [up.mediaId] })).toBe('not_found');
  expect(await sendCode(eve!, { chatId: evesChat.chatId, clientMsgId: randomUUID(), body: {}, attachments: [randomUUID()] })).toBe('not_found');

  const sent = await alice!.c.request('message.send', { chatId: chat.chatId, clientMsgId: randomUUID(), body: {}, attachments: [up.mediaId] });
  await bob!.waitForSeqs(chat.chatId, [sent.seq]);
  const got = bob!.messages.get(chat.chatId)!.get(sent.seq)! as Message;
  expect(got.attachments).toEqual([{ mediaId: up.mediaId, contentType: 'image/jpeg', size: photo.length, sha256: sha256(photo), fileName: 'beach.jpg' }]);

  // Bob, on the other gateway, follows the 302 right away: the bytes are the ones declared.
  const viaBob = await download(httpOf(bob!, 1), up.mediaId);
  expect(viaBob.status).toBe(302);
  expect(sha256(viaBob.bytes!)).toBe(got.attachments[0]!.sha256);
  expect(viaBob.type).toBe('image/jpeg');
  let thumb = await download(httpOf(bob!, 1), up.mediaId, true);
  for (let i = 0; i < 50 && thumb.status === 404; i++) {
    await sleep(200);
    thumb = await download(httpOf(bob!, 1), up.mediaId, true);
  }
  expect(thumb.status).toBe(302);
  const meta = await sharp(thumb.bytes!).metadata();
  expect([meta.format, Math.max(meta.width!, meta.height!)]).toEqual(['jpeg', 320]);

  // A stranger, a member added after the message, and a removed member: 403.
  expect(await download(httpOf(eve!, 1), up.mediaId)).toEqual({ status: 403, code: 'forbidden' });
  expect((await download(httpOf(eve!, 0), up.mediaId, true)).status).toBe(403);
  await alice!.c.request('chat.members.add', { chatId: chat.chatId, userIds: [carol!.userId] });
  expect(await download(httpOf(carol!, 1), up.mediaId)).toEqual({ status: 403, code: 'forbidden' });
  expect(await download(httpOf(dave!, 0), up.mediaId)).toMatchObject({ status: 302 });
  await alice!.c.request('chat.members.remove', { chatId: chat.chatId, userIds: [dave!.userId] });
  expect(await download(httpOf(dave!, 0), up.mediaId)).toEqual({ status: 403, code: 'forbidden' });
  // The uploader always can; a send after carol joined makes it visible to her.
  expect((await download(httpOf(alice!, 1), up.mediaId)).status).toBe(302);
  const again = await alice!.c.request('message.send', { chatId: chat.chatId, clientMsgId: randomUUID(), body: { text: 'once more' }, attachments: [up.mediaId] });
  await carol!.waitForSeqs(chat.chatId, [again.seq]);
  const viaCarol = await download(httpOf(carol!, 1), up.mediaId);
  expect([viaCarol.status, sha256(viaCarol.bytes!)]).toEqual([302, sha256(photo)]);
  expect((await download(httpOf(dave!, 0), up.mediaId)).status).toBe(403);
});

it('voice note and document: several attachments, up to 10, body may be empty', async () => {
  const [a, b] = await Promise.all(['ann', 'ben'].map(async (n) => new Device(mesh, await newUser(mesh, n), n).login()));
  await Promise.all([a!.connect(1), b!.connect(0)]);
  const { chat } = await a!.c.request('chat.create', { type: 'direct', userId: b!.userId });
  const voice = Buffer.from(`OggS voice ${randomUUID()}`.repeat(200));
  const doc = Buffer.from(`%PDF-1.4 ${randomUUID()}`.repeat(50));
  const ups = await Promise.all([uploadMedia(httpOf(a!, 1), voice, 'audio/ogg'), uploadMedia(httpOf(a!, 0), doc, 'application/pdf', 'terms.pdf')]);
  const r = await a!.c.request('message.send', { chatId: chat.chatId, clientMsgId: randomUUID(), body: {}, attachments: ups.map((u) => u.mediaId) });
  await b!.waitForSeqs(chat.chatId, [r.seq]);
  const m = b!.messages.get(chat.chatId)!.get(r.seq)!;
  expect(m.attachments.map((x) => x.mediaId)).toEqual(ups.map((u) => u.mediaId));
  for (const [i, bytes] of [voice, doc].entries()) {
    const d = await download(httpOf(b!, 1), ups[i]!.mediaId);
    expect(sha256(d.bytes!)).toBe(sha256(bytes));
  }
  expect((await download(httpOf(b!, 1), ups[0]!.mediaId, true)).status).toBe(404); // not an image
  const eleven = Array.from({ length: 11 }, () => ups[0]!.mediaId);
  expect(await sendCode(a!, { chatId: chat.chatId, clientMsgId: randomUUID(), body: {}, attachments: eleven })).toBe('bad_request');
});

it('bad input gets the protocol codes and leaves no bytes behind', async () => {
  const u = await new Device(mesh, await newUser(mesh, 'bad'), 'bad').login();
  const other = await new Device(mesh, await newUser(mesh, 'oth'), 'oth').login();
  const http = httpOf(u, 0);
  const post = (body: unknown) => http.raw<{ error: { code: string } }>('POST', '/v1/media', body);
  const ok = { contentType: 'image/png', size: 10, sha256: 'a'.repeat(64) };
  const codes = async (body: unknown) => {
    const r = await post(body);
    return [r.status, r.body.error?.code];
  };
  expect(await codes({ ...ok, size: 0 })).toEqual([400, 'bad_request']);
  expect(await codes({ ...ok, size: -1 })).toEqual([400, 'bad_request']);
  expect(await codes({ ...ok, size: 8 * 1024 * 1024 + 1 })).toEqual([413, 'too_large']);
  expect(await codes({ ...ok, sha256: 'z'.repeat(64) })).toEqual([400, 'bad_request']);
  expect(await codes({ ...ok, sha256: 'ab' })).toEqual([400, 'bad_request']);
  expect(await codes({ ...ok, contentType: 'application/x-sh' })).toEqual([400, 'bad_request']);
  expect(await codes({ ...ok, size: 'ten' })).toEqual([400, 'bad_request']);

  const bytes = Buffer.from(`ten bytes? ${randomUUID()}`);
  const up = await http.createUpload({ contentType: 'text/plain', size: bytes.length, sha256: sha256(bytes) });
  const complete = (h: ParleyHttp, id: string) => h.raw<{ error: { code: string } }>('POST', `/v1/media/${id}/complete`, {});
  expect((await complete(http, up.mediaId)).status).toBe(409); // before upload
  const more = await fetch(up.upload.url, { method: 'PUT', headers: up.upload.headers, body: Buffer.concat([bytes, bytes]) });
  const fewer = await fetch(up.upload.url, { method: 'PUT', headers: up.upload.headers, body: bytes.subarray(2) });
  expect([more.status >= 400, fewer.status >= 400]).toEqual([true, true]);
  expect(await store().stat(`m/${up.mediaId}`)).toBeUndefined();
  expect((await complete(http, up.mediaId)).body.error.code).toBe('conflict');
  expect((await complete(httpOf(other, 1), up.mediaId)).body.error.code).toBe('forbidden');
  expect((await complete(http, randomUUID())).status).toBe(404);
  expect((await download(http, randomUUID())).status).toBe(404);
  // Pending media cannot be sent.
  await u.connect(0);
  const { chat } = await u.c.request('chat.create', { type: 'direct', userId: other.userId });
  expect(await sendCode(u, { chatId: chat.chatId, clientMsgId: randomUUID(), body: {}, attachments: [up.mediaId] })).toBe('conflict');
});

it('kill -9 of the media service during a burst of completes: nothing ready and missing, nothing pending forever', async () => {
  const u = await new Device(mesh, await newUser(mesh, 'burst'), 'burst').login();
  const http = httpOf(u, 0);
  const n = 32;
  const files = Array.from({ length: n }, (_, i) => Buffer.from(`${i} ${randomUUID()} `.repeat(2000 + i)));
  const createdAt = Date.now();
  const ups = await Promise.all(files.map((f) => http.createUpload({ contentType: 'application/zip', size: f.length, sha256: sha256(f) })));
  await Promise.all(ups.map((up, i) => fetch(up.upload.url, { method: 'PUT', headers: up.upload.headers, body: files[i]! }).then((r) => expect(r.status).toBe(200))));
  // A burst spread over ~1 s (one complete every 30 ms, each in flight concurrently with the next); the media
  // service is killed once 6 have answered, so the rest are in flight, half done, or sent to a dead service.
  let ok = 0;
  const burst = ups.map((up, i) =>
    sleep(i * 30)
      .then(() => http.raw<{ media?: { state: string } }>('POST', `/v1/media/${up.mediaId}/complete`, {}))
      .then((r) => {
        if (r.status === 200) ok += 1;
        return r;
      }),
  );
  for (let t = 0; t < 200 && ok < 6; t++) await sleep(10);
  await mesh.kill('media', 'SIGKILL');
  const first = await Promise.all(burst);
  const answered = first.filter((r) => r.status === 200).length;
  for (const r of first) expect([200, 503]).toContain(r.status);
  await mesh.start('media');
  // The first half is retried (as a client does): every one ends ready, with its bytes.
  const half = n / 2;
  for (let i = 0; i < half; i++) {
    const r = await retryUnavailable(() => http.raw<{ media?: { state: string; sha256: string }; error?: unknown }>('POST', `/v1/media/${ups[i]!.mediaId}/complete`, {}));
    expect([r.status, r.body.media?.state, r.body.media?.sha256, r.body.error]).toEqual([200, 'ready', sha256(files[i]!), undefined]);
    const d = await retryUnavailable(() => download(http, ups[i]!.mediaId));
    expect(sha256(d.bytes!)).toBe(sha256(files[i]!));
  }
  // The rest, never retried: those the crash left pending expire (MEDIA_PENDING_TTL_MS) and lose their bytes
  // (the sweeper runs every second here); those that did complete stay ready with their bytes. None is ready
  // without bytes.
  await sleep(Math.max(0, createdAt + PENDING_TTL_MS + 4000 - Date.now()));
  const s = store();
  for (let i = half; i < n; i++) {
    const r = await retryUnavailable(() => http.raw<{ media?: { state: string }; error?: { code: string } }>('POST', `/v1/media/${ups[i]!.mediaId}/complete`, {}));
    const bytes = await s.stat(`m/${ups[i]!.mediaId}`);
    if (r.status === 200) {
      expect(r.body.media!.state).toBe('ready');
      expect(bytes?.size).toBe(files[i]!.length);
    } else {
      expect([r.status, r.body.error!.code]).toEqual([409, 'conflict']);
      expect(bytes).toBeUndefined();
      expect((await retryUnavailable(() => download(http, ups[i]!.mediaId))).status).toBe(404);
      expect(first[i]!.status).not.toBe(200); // what was answered ready stays ready
    }
  }
  // Sanity: the kill really interrupted completes (otherwise this test proved nothing).
  expect(answered).toBeLessThan(n);
});
