import { needsRotation, publishedKeys, type KeyRecord } from './keyring.js';

const H = 3_600_000;
const key = (kid: string, createdAt: number): KeyRecord => ({ kid, alg: 'ES256', privateJwk: '{}', publicJwk: '{}', createdAt });

describe('keyring', () => {
  it('rotates when there is no key, the pointer is dangling, or the period passed', () => {
    const keys = new Map([['a', key('a', 0)]]);
    expect(needsRotation(undefined, keys, 0, 24 * H)).toBe(true);
    expect(needsRotation({ kid: 'zz', rotatedAt: 0 }, keys, 0, 24 * H)).toBe(true);
    expect(needsRotation({ kid: 'a', rotatedAt: 0 }, keys, 23 * H, 24 * H)).toBe(false);
    expect(needsRotation({ kid: 'a', rotatedAt: 0 }, keys, 24 * H, 24 * H)).toBe(true);
  });

  it('keeps the previous key published until its last token expired', () => {
    const keys = new Map([
      ['old', key('old', 0)],
      ['new', key('new', 24 * H)],
    ]);
    const pointer = { kid: 'new', previousKid: 'old', rotatedAt: 30 * H };
    const ttl = 15 * 60_000;
    const at = (t: number) => publishedKeys(keys, pointer, t, 24 * H, ttl).map((k) => k.key.kid).sort();
    expect(at(30 * H + 1000)).toEqual(['new', 'old']);
    expect(at(30 * H + ttl + 30_000)).toEqual(['new', 'old']);
    expect(at(30 * H + ttl + 61_000)).toEqual(['new']);
  });
});
