// Validation of `push.register` tokens per platform (protocol.md "push.register"). Errors are bad_request
// naming the field.
import { errors } from '@parley/kit';
import type { AddressPolicy } from './address-policy.js';
import type { PlatformName } from './types.js';

export const TOKEN_MAX_CHARS = 4096;

export interface WebPushSubscription {
  endpoint: string;
  keys: { p256dh: string; auth: string };
}

const B64URL = /^[A-Za-z0-9_-]+={0,2}$/;
const b64urlBytes = (s: string): number => Buffer.from(s, 'base64url').length;

/** Parses and checks a Web Push subscription JSON (throws bad_request naming the field). */
export function parseWebPushToken(token: string, policy: AddressPolicy): WebPushSubscription {
  let v: unknown;
  try {
    v = JSON.parse(token);
  } catch {
    throw errors.badRequest('token: must be the JSON text of a PushSubscription');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw errors.badRequest('token: must be a JSON object');
  const o = v as Record<string, unknown>;
  if (typeof o.endpoint !== 'string' || o.endpoint.length === 0) throw errors.badRequest('token.endpoint: required string');
  const why = policy.checkUrl(o.endpoint);
  if (why) throw errors.badRequest(`token.endpoint: ${why}`);
  const keys = o.keys as Record<string, unknown> | undefined;
  if (typeof keys !== 'object' || keys === null) throw errors.badRequest('token.keys: required object');
  const { p256dh, auth } = keys;
  if (typeof p256dh !== 'string' || !B64URL.test(p256dh)) throw errors.badRequest('token.keys.p256dh: required base64url string');
  const pub = Buffer.from(p256dh, 'base64url');
  if (pub.length !== 65 || pub[0] !== 0x04) throw errors.badRequest('token.keys.p256dh: must be an uncompressed P-256 public key (65 bytes)');
  if (typeof auth !== 'string' || !B64URL.test(auth)) throw errors.badRequest('token.keys.auth: required base64url string');
  if (b64urlBytes(auth) !== 16) throw errors.badRequest('token.keys.auth: must be 16 bytes');
  return { endpoint: o.endpoint, keys: { p256dh, auth } };
}

/** Checks a token for a platform and returns its canonical stored form. */
export function normalizeToken(platform: PlatformName, token: string, policy: AddressPolicy): string {
  if (token.length === 0) throw errors.badRequest('token: required');
  if (token.length > TOKEN_MAX_CHARS) throw errors.badRequest(`token: at most ${TOKEN_MAX_CHARS} characters`);
  switch (platform) {
    case 'fcm':
      if (!/^[A-Za-z0-9:_\-.]+$/.test(token)) throw errors.badRequest('token: not an FCM registration token');
      return token;
    case 'apns':
      if (!/^[0-9a-fA-F]{64,200}$/.test(token)) throw errors.badRequest('token: not an APNs device token (hex)');
      return token.toLowerCase();
    case 'webpush': {
      const s = parseWebPushToken(token, policy);
      return JSON.stringify({ endpoint: s.endpoint, keys: s.keys });
    }
    case 'webhook': {
      const why = policy.checkUrl(token);
      if (why) throw errors.badRequest(`token: ${why}`);
      return token;
    }
  }
}
