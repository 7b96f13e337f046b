// The receiving side of RFC 8291 (Message Encryption for Web Push, aes128gcm of RFC 8188): what a browser does
// with the subscription's private key and auth secret. Used by the Web Push fake to prove that what the push
// service sent is a correctly encrypted payload.
import { createDecipheriv, createECDH, createHmac, randomBytes, type ECDH } from 'node:crypto';

const hmac = (key: Buffer, data: Buffer) => createHmac('sha256', key).update(data).digest();

export interface SubscriptionKeys {
  ecdh: ECDH;
  publicKey: Buffer; // 65 bytes, uncompressed
  auth: Buffer; // 16 bytes
}

export function newSubscriptionKeys(): SubscriptionKeys {
  const ecdh = createECDH('prime256v1');
  ecdh.generateKeys();
  return { ecdh, publicKey: ecdh.getPublicKey(), auth: randomBytes(16) };
}

export function decryptAes128gcm(body: Buffer, keys: SubscriptionKeys): Buffer {
  if (body.length < 21) throw new Error('aes128gcm: body shorter than its header');
  const salt = body.subarray(0, 16);
  const rs = body.readUInt32BE(16);
  const idlen = body[20]!;
  const asPublic = body.subarray(21, 21 + idlen);
  if (idlen !== 65 || asPublic[0] !== 0x04) throw new Error('aes128gcm: keyid is not an uncompressed P-256 key');
  const records = body.subarray(21 + idlen);
  if (records.length > rs) throw new Error('aes128gcm: more than one record (push messages fit one)');
  const ecdhSecret = keys.ecdh.computeSecret(asPublic);
  const prkKey = hmac(keys.auth, ecdhSecret);
  const keyInfo = Buffer.concat([Buffer.from('WebPush: info\0'), keys.publicKey, asPublic, Buffer.from([1])]);
  const ikm = hmac(prkKey, keyInfo);
  const prk = hmac(salt, ikm);
  const cek = hmac(prk, Buffer.from('Content-Encoding: aes128gcm\0\x01', 'binary')).subarray(0, 16);
  const nonce = hmac(prk, Buffer.from('Content-Encoding: nonce\0\x01', 'binary')).subarray(0, 12);
  const tag = records.subarray(records.length - 16);
  const d = createDecipheriv('aes-128-gcm', cek, nonce);
  d.setAuthTag(tag);
  const padded = Buffer.concat([d.update(records.subarray(0, records.length - 16)), d.final()]);
  let end = padded.length - 1;
  while (end >= 0 && padded[end] === 0) end--;
  if (end < 0 || padded[end] !== 0x02) throw new Error('aes128gcm: missing last-record padding delimiter');
  return padded.subarray(0, end);
}

/** A VAPID key pair as `web-push generate-vapid-keys` prints it (base64url). */
export function newVapidKeys(): { publicKey: string; privateKey: string } {
  const e = createECDH('prime256v1');
  e.generateKeys();
  const priv = e.getPrivateKey();
  const padded = Buffer.concat([Buffer.alloc(32 - priv.length), priv]);
  return { publicKey: e.getPublicKey().toString('base64url'), privateKey: padded.toString('base64url') };
}
