// MinIO / S3 through the minio client: presigned URLs only; the bytes never pass through a service.
import * as Minio from 'minio';

export interface ObjectStore {
  client: Minio.Client;
  bucket: string;
  ensureBucket(): Promise<void>;
  presignedPut(key: string, expirySeconds: number): Promise<string>;
  presignedGet(key: string, expirySeconds: number, respHeaders?: Record<string, string>): Promise<string>;
  stat(key: string): Promise<{ size: number; etag: string; metaData: Record<string, string> } | undefined>;
  get(key: string): Promise<NodeJS.ReadableStream>;
  put(key: string, data: Buffer, contentType: string): Promise<void>;
  remove(key: string): Promise<void>;
  ping(): Promise<void>;
}

export function createObjectStore(opts: { endpoint: string; accessKey: string; secretKey: string; bucket: string; region?: string }): ObjectStore {
  const u = new URL(opts.endpoint);
  const client = new Minio.Client({
    endPoint: u.hostname,
    port: Number(u.port || (u.protocol === 'https:' ? 443 : 80)),
    useSSL: u.protocol === 'https:',
    accessKey: opts.accessKey,
    secretKey: opts.secretKey,
    region: opts.region ?? 'us-east-1',
  });
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
    presignedPut: (key, expiry) => client.presignedPutObject(bucket, key, expiry),
    presignedGet: (key, expiry, respHeaders) => client.presignedGetObject(bucket, key, expiry, respHeaders ?? {}),
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
