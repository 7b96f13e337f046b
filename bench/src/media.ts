// Scenario `media`: uploads through presigned MinIO URLs (protocol.md §7). For each file size and
// concurrency, `concurrency` uploaders each run create → PUT → complete in a loop until `count` files are in;
// reported: MB/s through MinIO (bytes PUT ÷ wall time of the whole batch), PUT time, and the time from the
// PUT's end to a 200 from complete (verification: size + the store's checksum). Then one 12-megapixel JPEG:
// complete → its thumbnail answering 302 (polled every 25 ms), i.e. the thumbnail generation time as a
// client sees it.
import { createHash, randomBytes } from 'node:crypto';
import sharp from 'sharp';
import { ParleyHttp } from '@parley/client';
import { mapLimit } from '@parley/kit';
import { table } from './report.js';
import { ms, summarize } from './stats.js';

export interface MediaBenchOptions {
  sizesMiB: number[];
  concurrency: number[];
  /** Files per (size, concurrency) cell (at most 400 MiB in total per cell, at least `concurrency`). */
  count: number;
  log: (s: string) => void;
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function uploadOnce(http: ParleyHttp, bytes: Buffer, digest: string, contentType: string) {
  const up = await http.createUpload({ contentType, size: bytes.length, sha256: digest });
  const t0 = performance.now();
  const put = await fetch(up.upload.url, { method: 'PUT', headers: up.upload.headers, body: bytes });
  if (put.status !== 200) throw new Error(`PUT answered ${put.status}`);
  await put.arrayBuffer();
  const t1 = performance.now();
  await http.completeUpload(up.mediaId);
  const t2 = performance.now();
  return { mediaId: up.mediaId, putMs: t1 - t0, completeMs: t2 - t1 };
}

export async function runMediaBench(http: ParleyHttp, o: MediaBenchOptions): Promise<{ uploads: string; thumbnail: string }> {
  const rows: (string | number)[][] = [];
  for (const mib of o.sizesMiB) {
    // One random file per size, each upload with a fresh first block (distinct objects, distinct digests).
    const base = randomBytes(mib * 1024 * 1024);
    for (const conc of o.concurrency) {
      const count = Math.max(conc, Math.min(o.count, Math.floor((400 * 1024 * 1024) / base.length)));
      const files = Array.from({ length: count }, () => {
        const b = Buffer.from(base);
        randomBytes(32).copy(b, 0);
        return { b, d: sha(b) };
      });
      o.log(`media: ${count} × ${mib} MiB, ${conc} at a time`);
      const t0 = performance.now();
      const res = await mapLimit(files, conc, (f) => uploadOnce(http, f.b, f.d, 'application/zip'));
      const wall = (performance.now() - t0) / 1000;
      const put = summarize(res.map((r) => r.putMs));
      const comp = summarize(res.map((r) => r.completeMs));
      const mbps = (count * base.length) / 1e6 / wall;
      rows.push([`${mib} MiB`, conc, count, mbps.toFixed(1), ms(put.p50), ms(put.p95), ms(comp.p50), ms(comp.p95), ms(comp.max)]);
    }
  }
  const uploads = table(
    ['file size', 'concurrent uploads', 'files', 'MB/s through MinIO', 'PUT p50', 'PUT p95', 'PUT end → complete 200 p50', 'p95', 'max'],
    rows,
  );

  // A 12-megapixel JPEG (4000×3000, noisy so it compresses like a photo).
  o.log('media: 12 MP JPEG thumbnail');
  const w = 4000;
  const hgt = 3000;
  const raw = randomBytes(w * hgt * 3);
  const jpeg = await sharp(raw, { raw: { width: w, height: hgt, channels: 3 } }).blur(2).jpeg({ quality: 85 }).toBuffer();
  const thumbRows: (string | number)[][] = [];
  for (let i = 0; i < 3; i++) {
    const b = Buffer.from(jpeg);
    const up = await http.createUpload({ contentType: 'image/jpeg', size: b.length, sha256: sha(b) });
    const put = await fetch(up.upload.url, { method: 'PUT', headers: up.upload.headers, body: b });
    if (put.status !== 200) throw new Error(`PUT answered ${put.status}`);
    const t0 = performance.now();
    await http.completeUpload(up.mediaId);
    const tc = performance.now();
    let thumbMs = NaN;
    for (let k = 0; k < 1200; k++) {
      const r = await http.raw('GET', `/v1/media/${up.mediaId}/thumbnail`);
      if (r.status === 302) {
        thumbMs = performance.now() - tc;
        break;
      }
      await new Promise((res) => setTimeout(res, 25));
    }
    thumbRows.push([i + 1, `${(b.length / 1e6).toFixed(1)} MB`, `${w}×${hgt}`, ms(tc - t0), ms(thumbMs)]);
    // Distinct bytes next time (the store would dedupe nothing, but keep uploads independent).
    randomBytes(16).copy(jpeg, jpeg.length - 64);
  }
  const thumbnail = table(['run', 'JPEG size', 'pixels', 'complete 200', 'complete → thumbnail 302'], thumbRows);
  return { uploads, thumbnail };
}
