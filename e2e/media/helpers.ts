// Media helpers of the e2e suites (not a test file): the client side of protocol.md §7 over plain HTTP.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ParleyHttp } from '@parley/client';

export const sha256 = (b: Buffer | Uint8Array) => createHash('sha256').update(b).digest('hex');
export const fixture = (f: string) => readFileSync(join(__dirname, '..', '..', 'services', 'media', 'test', 'fixtures', f));

export interface Uploaded {
  mediaId: string;
  media: Record<string, unknown>;
}

/** POST /v1/media, PUT the bytes with the headers given, POST complete. */
export async function uploadMedia(http: ParleyHttp, bytes: Buffer, contentType: string, fileName?: string): Promise<Uploaded> {
  const up = await http.createUpload({ contentType, size: bytes.length, sha256: sha256(bytes), ...(fileName ? { fileName } : {}) });
  const put = await fetch(up.upload.url, { method: 'PUT', headers: up.upload.headers, body: bytes });
  if (put.status !== 200) throw new Error(`PUT ${put.status}: ${await put.text()}`);
  const done = (await http.completeUpload(up.mediaId)) as { media: Record<string, unknown> };
  return { mediaId: up.mediaId, media: done.media };
}

/** GET /v1/media/{id}[/thumbnail] without following; then the bytes from the 302's Location. */
export async function download(http: ParleyHttp, mediaId: string, thumbnail = false): Promise<{ status: number; code?: string; bytes?: Buffer; type?: string | null }> {
  const r = await http.raw<{ error?: { code: string } }>('GET', `/v1/media/${encodeURIComponent(mediaId)}${thumbnail ? '/thumbnail' : ''}`);
  if (r.status !== 302) return { status: r.status, ...(r.body?.error ? { code: r.body.error.code } : {}) };
  const loc = r.headers.get('location')!;
  const got = await fetch(loc);
  if (got.status !== 200) throw new Error(`presigned GET answered ${got.status}`);
  return { status: 302, bytes: Buffer.from(await got.arrayBuffer()), type: got.headers.get('content-type') };
}
