// Access tokens: ES256 JWTs (sub = userId, did = deviceId) signed with the current key of a rotating key
// ring shared through Cassandra. Refresh tokens: opaque random strings, stored only as sha256 hashes.
import { createHash, randomBytes } from 'node:crypto';
import { SignJWT, exportJWK, generateKeyPair, importJWK, type KeyLike } from 'jose';
import { errors } from '@parley/kit';
import { KeySealer } from './key-sealer.js';
import { MAX_SIGNER_STALENESS_MS, needsRotation, prunableKeys, publishedKeys, type KeyPointer, type KeyRecord } from './keyring.js';
import type { KeysPort } from './ports.js';

export const ALG = 'ES256';

export function newRefreshToken(): string {
  return randomBytes(32).toString('base64url');
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export interface PublishedKey {
  kid: string;
  alg: string;
  publicJwk: string;
  /** ms since the epoch after which tokens signed by this key are invalid; 0 = current key. */
  notAfter: number;
}

export interface TokenIssuerOptions {
  issuer: string;
  audience: string;
  accessTtlSeconds: number;
  rotationMs: number;
  sealer?: KeySealer;
  now?: () => number;
  /** Told when this replica created a key and made it current. */
  onRotated?: (kid: string) => void;
}

export class TokenIssuer {
  private keys = new Map<string, KeyRecord>();
  private pointer: KeyPointer | undefined;
  private signer: { kid: string; key: KeyLike | Uint8Array } | undefined;
  private loadedAt = 0;
  private loading: Promise<void> | undefined;
  private readonly sealer: KeySealer;

  constructor(
    private readonly store: KeysPort,
    private readonly opts: TokenIssuerOptions,
  ) {
    this.sealer = opts.sealer ?? new KeySealer(undefined);
  }

  private now(): number {
    return this.opts.now?.() ?? Date.now();
  }

  /** Loads the ring, rotating first when due; safe to call from every replica at any time (concurrent calls share one load). */
  refresh(): Promise<void> {
    this.loading ??= this.load().finally(() => {
      this.loading = undefined;
    });
    return this.loading;
  }

  private async load(): Promise<void> {
    let keys = await this.store.list();
    let pointer = await this.store.pointer();
    if (needsRotation(pointer, keys, this.now(), this.opts.rotationMs)) {
      const rec = await this.generate();
      await this.store.insert(rec);
      const won = await this.store.swapPointer(pointer, { kid: rec.kid, previousKid: pointer?.kid, rotatedAt: this.now() });
      // The loser's key never signed anything: drop it. Whoever won, read the ring again so that every
      // replica signs with the same current key.
      if (won) this.opts.onRotated?.(rec.kid);
      else await this.store.delete(rec.kid);
      keys = await this.store.list();
      pointer = await this.store.pointer();
    }
    const cur = pointer ? keys.get(pointer.kid) : undefined;
    if (!cur) throw new Error('no current signing key');
    if (this.signer?.kid !== cur.kid) this.signer = { kid: cur.kid, key: await importJWK(JSON.parse(this.sealer.open(cur.privateJwk)), ALG) };
    this.keys = keys;
    this.pointer = pointer;
    this.loadedAt = this.now();
    for (const kid of prunableKeys(keys, pointer, this.now(), this.opts.rotationMs, this.opts.accessTtlSeconds * 1000)) {
      await this.store.delete(kid);
    }
  }

  private async generate(): Promise<KeyRecord> {
    const { publicKey, privateKey } = await generateKeyPair(ALG, { extractable: true });
    const kid = randomBytes(9).toString('base64url');
    return {
      kid,
      alg: ALG,
      privateJwk: this.sealer.seal(JSON.stringify({ ...(await exportJWK(privateKey)), kid, alg: ALG })),
      publicJwk: JSON.stringify({ ...(await exportJWK(publicKey)), kid, alg: ALG, use: 'sig' }),
      createdAt: this.now(),
    };
  }

  get currentKid(): string | undefined {
    return this.signer?.kid;
  }

  async signAccess(userId: string, deviceId: string): Promise<{ token: string; expiresIn: number }> {
    // Never sign with a ring this replica has not re-read lately: verifiers would already have retired its key.
    if (!this.signer || this.now() - this.loadedAt > MAX_SIGNER_STALENESS_MS) {
      try {
        await this.refresh();
      } catch (err) {
        throw errors.unavailable('signing keys are unavailable, retry', err);
      }
    }
    const s = this.signer!;
    const now = Math.floor(this.now() / 1000);
    const token = await new SignJWT({ did: deviceId })
      .setProtectedHeader({ alg: ALG, kid: s.kid, typ: 'JWT' })
      .setSubject(userId)
      .setIssuer(this.opts.issuer)
      .setAudience(this.opts.audience)
      .setIssuedAt(now)
      .setExpirationTime(now + this.opts.accessTtlSeconds)
      .setJti(randomBytes(9).toString('base64url'))
      .sign(s.key);
    return { token, expiresIn: this.opts.accessTtlSeconds };
  }

  /** The public keys verifiers must accept, from this replica's copy of the ring. */
  published(): PublishedKey[] {
    return publishedKeys(this.keys, this.pointer, this.now(), this.opts.rotationMs, this.opts.accessTtlSeconds * 1000).map(({ key, notAfter }) => ({
      kid: key.kid,
      alg: key.alg,
      publicJwk: key.publicJwk,
      notAfter,
    }));
  }

  /**
   * Like `published`, re-reading the ring first (concurrent callers share one read), so a key another
   * replica has just made current is visible at once: a gateway that meets an unknown kid asks right away.
   * If the ring cannot be read, the last copy is served while it is fresh enough to sign from.
   */
  async publishedFresh(): Promise<PublishedKey[]> {
    try {
      await this.refresh();
    } catch (err) {
      if (!this.keys.size || this.now() - this.loadedAt > MAX_SIGNER_STALENESS_MS) throw errors.unavailable('signing keys are unavailable, retry', err);
    }
    return this.published();
  }
}
