// MinIO against the real server: presigned upload and download with fetch(), stat, remove, readiness.
import { checks, createObjectStore } from '../src/index.js';
import { infra, runId } from './support.js';

const bucket = `kit-${runId}`.toLowerCase().slice(0, 60);
const store = createObjectStore({ endpoint: infra.minioEndpoint, accessKey: infra.minioAccessKey, secretKey: infra.minioSecretKey, bucket });

afterAll(async () => {
  await store.client.removeBucket(bucket).catch(() => {});
});

describe('MinIO', () => {
  it('presigns an upload and a download of the same bytes', async () => {
    await store.ensureBucket();
    await store.ensureBucket(); // idempotent
    await checks.objectStore(store)();
    const bytes = Buffer.from([0, 1, 2, 3, 250, 255, ...Buffer.from(`parley media ${runId}`)]);
    const put = await store.presignedPut('a/b.bin', 60);
    const up = await fetch(put, { method: 'PUT', body: bytes });
    expect(up.status).toBe(200);
    expect((await store.stat('a/b.bin'))?.size).toBe(bytes.length);
    const get = await store.presignedGet('a/b.bin', 60);
    const down = await fetch(get);
    expect(down.status).toBe(200);
    expect(Buffer.from(await down.arrayBuffer()).equals(bytes)).toBe(true);
    await store.remove('a/b.bin');
    expect(await store.stat('a/b.bin')).toBeUndefined();
  });

  it('refuses a tampered or foreign URL', async () => {
    const put = new URL(await store.presignedPut('c.bin', 60));
    put.pathname = put.pathname.replace('c.bin', 'other.bin');
    expect((await fetch(put, { method: 'PUT', body: 'x' })).status).toBe(403);
  });

  it('signs for the public endpoint when one is set', async () => {
    const u = new URL(infra.minioEndpoint);
    const publicEndpoint = `${u.protocol}//localhost:${u.port}`;
    const pub = createObjectStore({ endpoint: infra.minioEndpoint, accessKey: infra.minioAccessKey, secretKey: infra.minioSecretKey, bucket, publicEndpoint });
    const put = await pub.presignedPut('p.txt', 60);
    expect(new URL(put).host).toBe(`localhost:${u.port}`);
    expect((await fetch(put, { method: 'PUT', body: 'public' })).status).toBe(200);
    expect(await (await fetch(await pub.presignedGet('p.txt', 60))).text()).toBe('public');
    await pub.remove('p.txt');
  });

  it('binds a presigned PUT to its length, type and sha256, and reads back the checksum the store verified', async () => {
    const { createHash } = await import('node:crypto');
    const bytes = Buffer.from(`bound ${runId}`);
    const digest = createHash('sha256').update(bytes).digest();
    const headers = { 'content-type': 'image/png', 'x-amz-checksum-sha256': digest.toString('base64') };
    const url = store.presignedPutBound('bound.bin', 60, { ...headers, 'content-length': bytes.length });
    expect((await fetch(url, { method: 'PUT', headers, body: Buffer.concat([bytes, bytes]) })).status).toBe(403);
    const flipped = Buffer.from(bytes);
    flipped[0] = flipped[0]! ^ 1;
    expect((await fetch(url, { method: 'PUT', headers, body: flipped })).status).toBe(400);
    expect(await store.statChecksum('bound.bin')).toBeUndefined();
    expect((await fetch(url, { method: 'PUT', headers, body: bytes })).status).toBe(200);
    expect(await store.statChecksum('bound.bin')).toEqual({ size: bytes.length, contentType: 'image/png', sha256: digest.toString('hex') });
    await store.remove('bound.bin');
  });
});
