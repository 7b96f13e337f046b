import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { KeySealer } from './key-sealer.js';
import { MAX_SIGNER_STALENESS_MS, retirementWindowMs, type KeyPointer, type KeyRecord } from './keyring.js';
import type { KeysPort } from './ports.js';
import { TokenIssuer, hashToken, newRefreshToken, type PublishedKey } from './token-issuer.js';

/** An in-memory key table with the compare-and-set semantics of the Cassandra LWT. */
class FakeKeys implements KeysPort {
  keys = new Map<string, KeyRecord>();
  current: KeyPointer | undefined;
  /** Lets a test interleave two replicas: runs before every pointer read. */
  beforePointer: () => Promise<void> = async () => {};

  async list() {
    return new Map(this.keys);
  }
  async insert(k: KeyRecord) {
    this.keys.set(k.kid, { ...k });
  }
  async delete(kid: string) {
    this.keys.delete(kid);
  }
  async pointer() {
    await this.beforePointer();
    return this.current ? { ...this.current } : undefined;
  }
  async swapPointer(expected: KeyPointer | undefined, next: KeyPointer) {
    if ((this.current?.kid ?? undefined) !== (expected?.kid ?? undefined)) return false;
    this.current = { ...next };
    return true;
  }
}

const H = 3_600_000;
const TTL = 900;
const base = { issuer: 'parley-test', audience: 'parley-clients', accessTtlSeconds: TTL, rotationMs: 24 * H };

function jwks(keys: PublishedKey[]) {
  return createLocalJWKSet({ keys: keys.map((k) => JSON.parse(k.publicJwk)) });
}

describe('TokenIssuer', () => {
  let now: number;
  const clock = () => now;
  beforeEach(() => {
    now = Date.UTC(2026, 0, 1);
  });

  it('signs ES256 tokens with sub, did, iss, aud, exp and a kid header that verify with the published keys', async () => {
    const issuer = new TokenIssuer(new FakeKeys(), { ...base, now: clock });
    const { token, expiresIn } = await issuer.signAccess('u_1', 'd_1');
    expect(expiresIn).toBe(TTL);
    const header = decodeProtectedHeader(token);
    expect(header).toMatchObject({ alg: 'ES256', kid: issuer.currentKid });
    const { payload } = await jwtVerify(token, jwks(issuer.published()), { issuer: base.issuer, audience: base.audience, currentDate: new Date(now) });
    expect(payload).toMatchObject({ sub: 'u_1', did: 'd_1', iss: base.issuer, aud: base.audience });
    expect(payload.exp! - payload.iat!).toBe(TTL);
    await expect(jwtVerify(token, jwks(issuer.published()), { currentDate: new Date(now + (TTL + 1) * 1000) })).rejects.toThrow(/exp/);
  });

  it('publishes public keys only', async () => {
    const issuer = new TokenIssuer(new FakeKeys(), { ...base, now: clock });
    await issuer.refresh();
    for (const k of issuer.published()) {
      const jwk = JSON.parse(k.publicJwk);
      expect(jwk.d).toBeUndefined();
      expect(jwk).toMatchObject({ kty: 'EC', crv: 'P-256', kid: k.kid, alg: 'ES256' });
    }
  });

  it('lets the first replica create the key and the others use it', async () => {
    const store = new FakeKeys();
    const a = new TokenIssuer(store, { ...base, now: clock });
    const b = new TokenIssuer(store, { ...base, now: clock });
    await a.refresh();
    await b.refresh();
    expect(b.currentKid).toBe(a.currentKid);
    expect(store.keys.size).toBe(1);
  });

  it('converges two replicas that rotate at the same time on one key, dropping the loser’s', async () => {
    const store = new FakeKeys();
    // Both replicas read "no pointer" before either swaps it.
    let reads = 0;
    let release!: () => void;
    const bothRead = new Promise<void>((r) => (release = r));
    store.beforePointer = async () => {
      if (++reads === 2) release();
      if (reads <= 2) await bothRead;
    };
    const a = new TokenIssuer(store, { ...base, now: clock });
    const b = new TokenIssuer(store, { ...base, now: clock });
    await Promise.all([a.refresh(), b.refresh()]);
    expect(a.currentKid).toBeDefined();
    expect(b.currentKid).toBe(a.currentKid);
    expect([...store.keys.keys()]).toEqual([a.currentKid]);
  });

  it('keeps tokens of the previous key valid after a rotation, until they expire', async () => {
    const store = new FakeKeys();
    const a = new TokenIssuer(store, { ...base, now: clock });
    await a.refresh();
    const oldKid = a.currentKid;
    now += 24 * H - 60_000;
    await a.refresh();
    const oldToken = (await a.signAccess('u_1', 'd_1')).token;
    expect(decodeProtectedHeader(oldToken).kid).toBe(oldKid);

    now += 60_000; // the rotation is due: another replica performs it
    const b = new TokenIssuer(store, { ...base, now: clock });
    await b.refresh();
    expect(b.currentKid).not.toBe(oldKid);
    const published = b.published();
    expect(published.find((k) => k.kid === oldKid)?.notAfter).toBe(now + retirementWindowMs(TTL * 1000));
    expect(published.find((k) => k.kid === b.currentKid)?.notAfter).toBe(0);
    await expect(jwtVerify(oldToken, jwks(published), { issuer: base.issuer, audience: base.audience, currentDate: new Date(now + 1000) })).resolves.toBeTruthy();

    // New tokens use the new key, on every replica once it re-reads the ring.
    expect(decodeProtectedHeader((await b.signAccess('u_1', 'd_1')).token).kid).toBe(b.currentKid);
    await a.refresh();
    expect(decodeProtectedHeader((await a.signAccess('u_1', 'd_1')).token).kid).toBe(b.currentKid);

    // Once every token of the old key has expired, it is no longer published.
    now += retirementWindowMs(TTL * 1000);
    await b.refresh();
    expect(b.published().map((k) => k.kid)).toEqual([b.currentKid]);
  });

  it('never signs from a ring it has not re-read lately', async () => {
    const store = new FakeKeys();
    const a = new TokenIssuer(store, { ...base, now: clock });
    const b = new TokenIssuer(store, { ...base, now: clock });
    await a.refresh();
    now += 24 * H;
    await b.refresh(); // b rotates; a has not re-read for a day
    const t = (await a.signAccess('u_1', 'd_1')).token;
    expect(decodeProtectedHeader(t).kid).toBe(b.currentKid);
  });

  it('refuses to sign (unavailable) when the ring cannot be read and its copy is stale', async () => {
    const store = new FakeKeys();
    const a = new TokenIssuer(store, { ...base, now: clock });
    await a.refresh();
    store.list = async () => {
      throw new Error('cassandra down');
    };
    await expect(a.signAccess('u', 'd')).resolves.toBeTruthy(); // fresh enough
    now += MAX_SIGNER_STALENESS_MS + 1;
    await expect(a.signAccess('u', 'd')).rejects.toMatchObject({ code: 'unavailable' });
  });

  it('sees a rotation by another replica at once in publishedFresh', async () => {
    const store = new FakeKeys();
    const a = new TokenIssuer(store, { ...base, now: clock });
    await a.refresh();
    now += 24 * H;
    const b = new TokenIssuer(store, { ...base, now: clock });
    await b.refresh();
    expect(a.published().map((k) => k.kid)).not.toContain(b.currentKid);
    expect((await a.publishedFresh()).map((k) => k.kid)).toContain(b.currentKid);
  });

  it('deletes keys long past their last token', async () => {
    const store = new FakeKeys();
    const a = new TokenIssuer(store, { ...base, now: clock });
    for (let day = 0; day < 5; day++) {
      await a.refresh();
      now += 24 * H;
    }
    await a.refresh();
    // Current and previous are kept; older ones go once a day of margin passed.
    expect(store.keys.size).toBeLessThanOrEqual(3);
    expect(store.keys.has(a.currentKid!)).toBe(true);
  });

  it('seals private keys at rest when a secret is configured', async () => {
    const store = new FakeKeys();
    const a = new TokenIssuer(store, { ...base, now: clock, sealer: new KeySealer('s3cret') });
    const token = (await a.signAccess('u', 'd')).token;
    const [rec] = [...store.keys.values()];
    expect(rec!.privateJwk.startsWith('enc1:')).toBe(true);
    expect(rec!.privateJwk).not.toContain('"d"');
    // Another replica with the same secret signs with the same key; one with another secret cannot.
    const b = new TokenIssuer(store, { ...base, now: clock, sealer: new KeySealer('s3cret') });
    await b.refresh();
    expect(b.currentKid).toBe(a.currentKid);
    await expect(new TokenIssuer(store, { ...base, now: clock, sealer: new KeySealer('other') }).refresh()).rejects.toThrow(/differs/);
    await expect(jwtVerify(token, jwks(b.published()), { currentDate: new Date(now) })).resolves.toBeTruthy();
  });
});

describe('refresh tokens', () => {
  it('are 32 random bytes in base64url, stored as sha256', () => {
    const t = newRefreshToken();
    expect(t).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(newRefreshToken()).not.toBe(t);
    expect(hashToken(t)).toMatch(/^[0-9a-f]{64}$/);
    expect(hashToken(t)).toBe(hashToken(t));
  });
});
