// MinIO / S3 through the minio client: presigned URLs only; the bytes never pass through a service.
import * as Minio from 'minio';

export interface ObjectStore {
  client: Minio.Client;
  bucket: string;
  ensureBucket(): Promise<void>;
  presignedPut(key: string, expirySeconds: number): Promise<string>;
  presignedGet(key: string, expirySeconds: number, respHeaders?: Record<string, string>): Promise<string>;
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
