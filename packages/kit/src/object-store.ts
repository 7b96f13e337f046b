// MinIO / S3 through the minio client: presigned URLs only; the bytes never pass through a service.
import { createHash, createHmac } from 'node:crypto';
import * as Minio from 'minio';
import { errors } from './errors.js';

export interface ObjectStore {
  client: Minio.Client;
  bucket: string;
  ensureBucket(): Promise<void>;
  presignedPut(key: string, expirySeconds: number): Promise<string>;
  presignedGet(key: string, expirySeconds: number, respHeaders?: Record<string, string>): Promise<string>;
  /**
   * A presigned PUT whose signature also covers `headers` (e.g. `content-length`, `content-type`,
   * `x-amz-checksum-sha256`): the client must send exactly these values, so the store itself refuses a body of
   * another length or (with the checksum header) other bytes. Signed offline (SigV4, query auth).
   */
  presignedPutBound(key: string, expirySeconds: number, headers: Record<string, string | number>, now?: Date): string;
  /** Size, content type and the SHA-256 the store computed at upload (hex), when it recorded one. */
  statChecksum(key: string): Promise<{ size: number; contentType: string | undefined; sha256: string | undefined } | undefined>;
  /** undefined when there is no such object. */
  stat(key: string): Promise<{ size: number; etag: string; metaData: Record<string, string> } | undefined>;
  get(key: string): Promise<NodeJS.ReadableStream>;
  put(key: string, data: Buffer, contentType: string): Promise<void>;
  remove(key: string): Promise<void>;
  /** Throws unless the store answers (readiness). */
  ping(): Promise<void>;
}

export interface ObjectStoreOptions {
  /** e.g. http://127.0.0.1:9100 */
  endpoint: string;
  accessKey: string;
  secretKey: string;
  bucket: string;
  region?: string;
  /**
   * The URL clients reach the store at, when it differs from `endpoint` (e.g. in-cluster `http://minio:9000`
   * vs a public ingress). Presigned URLs are signed for this host (the signature covers it), offline.
   */
  publicEndpoint?: string | undefined;
}

const enc = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/** AWS SigV4 query-string presigning with signed headers (the minio client never signs content-length). */
export function presignV4(o: {
  method: string;
  endpoint: string;
  bucket: string;
  key: string;
  accessKey: string;
  secretKey: string;
  region: string;
  expirySeconds: number;
  headers: Record<string, string | number>;
  now?: Date;
}): string {
  const u = new URL(o.endpoint);
  const amzDate = (o.now ?? new Date()).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  const day = amzDate.slice(0, 8);
  const h: Record<string, string> = { host: u.host };
  for (const [k, v] of Object.entries(o.headers)) h[k.toLowerCase()] = String(v).trim().replace(/ +/g, ' ');
  const names = Object.keys(h).sort();
  const scope = `${day}/${o.region}/s3/aws4_request`;
  const q: Record<string, string> = {
    'X-Amz-Algorithm': 'AWS4-HMAC-SHA256',
    'X-Amz-Credential': `${o.accessKey}/${scope}`,
    'X-Amz-Date': amzDate,
    'X-Amz-Expires': String(o.expirySeconds),
    'X-Amz-SignedHeaders': names.join(';'),
  };
  const qs = Object.keys(q)
    .sort()
    .map((k) => `${enc(k)}=${enc(q[k]!)}`)
    .join('&');
  const base = u.pathname.replace(/\/+$/, '');
  const path = `${base}/${o.bucket}/${o.key.split('/').map(enc).join('/')}`;
  const canonical = [o.method, path, qs, names.map((n) => `${n}:${h[n]}\n`).join(''), names.join(';'), 'UNSIGNED-PAYLOAD'].join('\n');
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, createHash('sha256').update(canonical).digest('hex')].join('\n');
  const hmac = (k: string | Buffer, d: string) => createHmac('sha256', k).update(d).digest();
  const signingKey = hmac(hmac(hmac(hmac(`AWS4${o.secretKey}`, day), o.region), 's3'), 'aws4_request');
  const sig = createHmac('sha256', signingKey).update(toSign).digest('hex');
  return `${u.protocol}//${u.host}${path}?${qs}&X-Amz-Signature=${sig}`;
}

function minioClient(endpoint: string, o: ObjectStoreOptions): Minio.Client {
  const u = new URL(endpoint);
  return new Minio.Client({
    endPoint: u.hostname,
    port: Number(u.port || (u.protocol === 'https:' ? 443 : 80)),
    useSSL: u.protocol === 'https:',
    accessKey: o.accessKey,
    secretKey: o.secretKey,
    // A fixed region also means presigning needs no network round trip.
    region: o.region ?? 'us-east-1',
  });
}

export function createObjectStore(opts: ObjectStoreOptions): ObjectStore {
  const client = minioClient(opts.endpoint, opts);
  const signer = opts.publicEndpoint ? minioClient(opts.publicEndpoint, opts) : client;
  const bucket = opts.bucket;
  return {
    client,
    bucket,
    async ensureBucket() {
      if (!(await client.bucketExists(bucket))) {
        try {
          await client.makeBucket(bucket, opts.region ?? 'us-east-1');
        } catch (err) {
          const code = (err as { code?: string }).code;
          if (code !== 'BucketAlreadyOwnedByYou' && code !== 'BucketAlreadyExists') throw err;
        }
      }
    },
    presignedPut: (key, expiry) => signer.presignedPutObject(bucket, key, expiry),
    presignedGet: (key, expiry, respHeaders) => signer.presignedGetObject(bucket, key, expiry, respHeaders ?? {}),
    presignedPutBound: (key, expirySeconds, headers, now) =>
      presignV4({
        method: 'PUT',
        endpoint: opts.publicEndpoint ?? opts.endpoint,
        bucket,
        key,
        accessKey: opts.accessKey,
        secretKey: opts.secretKey,
        region: opts.region ?? 'us-east-1',
        expirySeconds,
        headers,
        ...(now ? { now } : {}),
      }),
    async statChecksum(key) {
      // HEAD with x-amz-checksum-mode: ENABLED returns the checksum the store verified at upload, if any.
      const url = presignV4({
        method: 'HEAD',
        endpoint: opts.endpoint,
        bucket,
        key,
        accessKey: opts.accessKey,
        secretKey: opts.secretKey,
        region: opts.region ?? 'us-east-1',
        expirySeconds: 60,
        headers: { 'x-amz-checksum-mode': 'ENABLED' },
      });
      let res: Response;
      try {
        res = await fetch(url, { method: 'HEAD', headers: { 'x-amz-checksum-mode': 'ENABLED' }, signal: AbortSignal.timeout(10_000) });
      } catch (err) {
        throw errors.unavailable('object store unreachable', err);
      }
      if (res.status === 404) return undefined;
      if (res.status >= 500) throw errors.unavailable(`object store HEAD: HTTP ${res.status}`);
      if (!res.ok) throw new Error(`object store HEAD ${key}: HTTP ${res.status}`);
      const b64 = res.headers.get('x-amz-checksum-sha256');
      return {
        size: Number(res.headers.get('content-length') ?? '0'),
        contentType: res.headers.get('content-type') ?? undefined,
        sha256: b64 ? Buffer.from(b64, 'base64').toString('hex') : undefined,
      };
    },
    async stat(key) {
      try {
        const s = await client.statObject(bucket, key);
        return { size: s.size, etag: s.etag, metaData: s.metaData as Record<string, string> };
      } catch (err) {
        if ((err as { code?: string }).code === 'NotFound' || (err as { code?: string }).code === 'NoSuchKey') return undefined;
        throw err;
      }
    },
    get: (key) => client.getObject(bucket, key),
    async put(key, data, contentType) {
      await client.putObject(bucket, key, data, data.length, { 'Content-Type': contentType });
    },
    remove: (key) => client.removeObject(bucket, key),
    async ping() {
      await client.bucketExists(bucket);
    },
  };
}
