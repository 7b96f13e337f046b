// Slow salted password hashes (scrypt), compared in constant time. The parameters travel with the hash,
// so the cost can be raised later without breaking existing accounts.
import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';

const KEYLEN = 64;

export interface ScryptParams {
  /** CPU/memory cost N (a power of two). */
  N: number;
  /** Block size. */
  r: number;
  /** Parallelization. */
  p: number;
}

/** OWASP Password Storage Cheat Sheet: N=2^14, r=8, p=5 is one of its equivalent minimums (16 MiB, cheapest to run). */
export const DEFAULT_SCRYPT: ScryptParams = { N: 16384, r: 8, p: 5 };

/** OWASP's equivalent minimum settings for scrypt with r=8 (N, p); anything at or above one of them passes. */
const OWASP_MINIMUMS: [number, number][] = [
  [131072, 1],
  [65536, 2],
  [32768, 3],
  [16384, 5],
  [8192, 10],
];

export function meetsOwasp(s: ScryptParams): boolean {
  return s.r >= 8 && OWASP_MINIMUMS.some(([n, p]) => s.N >= n && s.p >= p);
}

function scrypt(password: string, salt: Buffer, N: number, r: number, p: number): Promise<Buffer> {
  const opts: ScryptOptions = { N, r, p, maxmem: 256 * N * r + 1024 * 1024 };
  return new Promise((ok, fail) => scryptCb(password, salt, KEYLEN, opts, (err, key) => (err ? fail(err) : ok(key))));
}

export async function hashPassword(password: string, params: ScryptParams | number = DEFAULT_SCRYPT): Promise<string> {
  const { N, r, p } = typeof params === 'number' ? { N: params, r: 8, p: 1 } : params;
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, N, r, p);
  return `scrypt$${N}$${r}$${p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [, n, r, p, saltB64, keyB64] = parts as [string, string, string, string, string, string];
  const expected = Buffer.from(keyB64, 'base64');
  const got = await scrypt(password, Buffer.from(saltB64, 'base64'), Number(n), Number(r), Number(p));
  return got.length === expected.length && timingSafeEqual(got, expected);
}

/** What hashes and checks passwords: in-process (tests of the domain) or the bounded worker pool (the service). */
export interface PasswordHasher {
  hash(password: string): Promise<string>;
  verify(password: string, stored: string): Promise<boolean>;
}

export function inProcessHasher(params: ScryptParams | number = DEFAULT_SCRYPT): PasswordHasher {
  return { hash: (pw) => hashPassword(pw, params), verify: verifyPassword };
}
