import { CLOCK_SKEW_MS, MAX_SIGNER_STALENESS_MS, needsRotation, prunableKeys, publishedKeys, retirementWindowMs, type KeyRecord } from './keyring.js';

const H = 3_600_000;
const DAY = 24 * H;
const key = (kid: string, createdAt: number): KeyRecord => ({ kid, alg: 'ES256', privateJwk: '{}', publicJwk: '{}', createdAt });

describe('keyring', () => {
  it('rotates when there is no key, the pointer is dangling, or the period passed', () => {
    const keys = new Map([['a', key('a', 0)]]);
    expect(needsRotation(undefined, keys, 0, DAY)).toBe(true);
    expect(needsRotation({ kid: 'zz', rotatedAt: 0 }, keys, 0, DAY)).toBe(true);
    expect(needsRotation({ kid: 'a', rotatedAt: 0 }, keys, 23 * H, DAY)).toBe(false);
    expect(needsRotation({ kid: 'a', rotatedAt: 0 }, keys, DAY, DAY)).toBe(true);
  });

  it('retires a key only after its last token expired, counting stale signers and clock skew', () => {
    const ttl = 15 * 60_000;
    expect(retirementWindowMs(ttl)).toBe(ttl + MAX_SIGNER_STALENESS_MS + CLOCK_SKEW_MS);
  });

  it('keeps the previous key published until its last token expired, with that time as notAfter', () => {
    const keys = new Map([
      ['old', key('old', 0)],
      ['new', key('new', 30 * H)],
    ]);
    const pointer = { kid: 'new', previousKid: 'old', rotatedAt: 30 * H };
    const ttl = 15 * 60_000;
    const w = retirementWindowMs(ttl);
    const at = (t: number) => publishedKeys(keys, pointer, t, DAY, ttl);
    const kids = (t: number) => at(t).map((k) => k.key.kid).sort();
    expect(kids(30 * H + 1000)).toEqual(['new', 'old']);
    expect(at(30 * H + 1000).find((k) => k.key.kid === 'new')?.notAfter).toBe(0);
    expect(at(30 * H + 1000).find((k) => k.key.kid === 'old')?.notAfter).toBe(30 * H + w);
    expect(kids(30 * H + w - 1)).toEqual(['new', 'old']);
    expect(kids(30 * H + w)).toEqual(['new']);
  });

  it('keeps a key created by the loser of a rotation race for one window, then drops it', () => {
    const ttl = 60_000;
    const keys = new Map([
      ['cur', key('cur', 0)],
      ['lost', key('lost', 0)],
    ]);
    const pointer = { kid: 'cur', rotatedAt: 0 };
    expect(publishedKeys(keys, pointer, 1000, H, ttl).map((k) => k.key.kid).sort()).toEqual(['cur', 'lost']);
    expect(publishedKeys(keys, pointer, H + retirementWindowMs(ttl), H, ttl).map((k) => k.key.kid)).toEqual(['cur']);
  });

  it('prunes only keys long past any token they could have signed, never the current or previous one', () => {
    const ttl = 15 * 60_000;
    const keys = new Map([
      ['k0', key('k0', 0)],
      ['k1', key('k1', DAY)],
      ['k2', key('k2', 2 * DAY)],
      ['k3', key('k3', 3 * DAY)],
    ]);
    const pointer = { kid: 'k3', previousKid: 'k2', rotatedAt: 3 * DAY };
    expect(prunableKeys(keys, pointer, 3 * DAY + 60_000, DAY, ttl).sort()).toEqual(['k0']);
    expect(prunableKeys(keys, pointer, 3 * DAY + H, DAY, ttl).sort()).toEqual(['k0', 'k1']);
    expect(prunableKeys(keys, pointer, 10 * DAY, DAY, ttl).sort()).toEqual(['k0', 'k1']);
    expect(prunableKeys(keys, undefined, 10 * DAY, DAY, ttl)).toEqual([]);
    expect(prunableKeys(keys, { kid: 'gone', rotatedAt: 0 }, 10 * DAY, DAY, ttl)).toEqual([]);
  });
});
