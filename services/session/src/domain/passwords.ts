// Slow salted password hashes (scrypt), compared in constant time. The parameters travel with the hash,
// so the cost can be raised later without breaking existing accounts.
import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';

const KEYLEN = 64;

function scrypt(password: string, salt: Buffer, N: number, r: number, p: number): Promise<Buffer> {
  const opts: ScryptOptions = { N, r, p, maxmem: 256 * N * r + 1024 * 1024 };
  return new Promise((ok, fail) => scryptCb(password, salt, KEYLEN, opts, (err, key) => (err ? fail(err) : ok(key))));
}

export async function hashPassword(password: string, cost = 16384): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, cost, 8, 1);
  return `scrypt$${cost}$8$1$${salt.toString('base64')}$${key.toString('base64')}`;
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [, n, r, p, saltB64, keyB64] = parts as [string, string, string, string, string, string];
  const expected = Buffer.from(keyB64, 'base64');
  const got = await scrypt(password, Buffer.from(saltB64, 'base64'), Number(n), Number(r), Number(p));
  return got.length === expected.length && timingSafeEqual(got, expected);
}

/** A hash of a random password, to spend the same time when the username does not exist. */
let dummy: Promise<string> | undefined;
export function dummyHash(cost: number): Promise<string> {
  dummy ??= hashPassword(randomBytes(12).toString('hex'), cost);
  return dummy;
}
