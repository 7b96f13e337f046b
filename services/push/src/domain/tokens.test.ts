import { createECDH, randomBytes } from 'node:crypto';
import { ParleyError } from '@parley/kit';
import { AddressPolicy } from './address-policy.js';
import { normalizeToken } from './tokens.js';

const policy = new AddressPolicy([]);
const e = createECDH('prime256v1');
e.generateKeys();
const sub = { endpoint: 'https://push.example.com/x', keys: { p256dh: e.getPublicKey().toString('base64url'), auth: randomBytes(16).toString('base64url') } };
const err = (f: () => unknown) => {
  try {
    f();
  } catch (x) {
    expect(x).toBeInstanceOf(ParleyError);
    return `${(x as ParleyError).code}: ${(x as ParleyError).message}`;
  }
  throw new Error('no error');
};

describe('normalizeToken', () => {
  it('accepts and canonicalizes a Web Push subscription', () => {
    expect(JSON.parse(normalizeToken('webpush', JSON.stringify({ ...sub, expirationTime: null }), policy))).toEqual(sub);
  });
  it('names the field that is wrong', () => {
    expect(err(() => normalizeToken('webpush', 'nope', policy))).toMatch(/^bad_request: token/);
    expect(err(() => normalizeToken('webpush', JSON.stringify({ keys: sub.keys }), policy))).toMatch(/token\.endpoint/);
    expect(err(() => normalizeToken('webpush', JSON.stringify({ ...sub, keys: { ...sub.keys, p256dh: 'AAAA' } }), policy))).toMatch(/token\.keys\.p256dh/);
    expect(err(() => normalizeToken('webpush', JSON.stringify({ ...sub, keys: { ...sub.keys, auth: 'AAAA' } }), policy))).toMatch(/token\.keys\.auth/);
    expect(err(() => normalizeToken('webpush', JSON.stringify({ ...sub, endpoint: 'https://10.0.0.1/x' }), policy))).toMatch(/token\.endpoint: destination/);
    expect(err(() => normalizeToken('fcm', '', policy))).toMatch(/token: required/);
    expect(err(() => normalizeToken('fcm', 'x'.repeat(4097), policy))).toMatch(/4096/);
    expect(err(() => normalizeToken('apns', 'zz', policy))).toMatch(/APNs/);
    expect(err(() => normalizeToken('webhook', 'http://example.com', policy))).toMatch(/https/);
  });
  it('lower-cases APNs tokens', () => {
    expect(normalizeToken('apns', 'AB'.repeat(32), policy)).toBe('ab'.repeat(32));
  });
});
