// Access tokens: ES256 JWTs (sub = userId, did = deviceId) signed with the current key of a rotating key
// ring shared through Cassandra. Refresh tokens: opaque random strings, stored only as sha256 hashes.
import { createHash, randomBytes } from 'node:crypto';
import { SignJWT, exportJWK, generateKeyPair, importJWK, type KeyLike } from 'jose';
import { needsRotation, publishedKeys, type KeyPointer, type KeyRecord } from './keyring.js';
import type { KeysPort } from './ports.js';

export const ALG = 'ES256';

export function newRefreshToken(): string {
  return randomBytes(32).toString('base64url');
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export class TokenIssuer {
  private keys = new Map<string, KeyRecord>();
  private pointer: KeyPointer | undefined;
  private signer: { kid: string; key: KeyLike | Uint8Array } | undefined;

  constructor(
    private readonly store: KeysPort,
    private readonly opts: { issuer: string; audience: string; accessTtlSeconds: number; rotationMs: number; now?: () => number },
  ) {}

  private now(): number {
    return this.opts.now?.() ?? Date.now();
  }

  /** Loads the ring, rotating first when due; safe to call from every replica at any time. */
  async refresh(): Promise<void> {
    this.keys = await this.store.list();
    this.pointer = await this.store.pointer();
    if (needsRotation(this.pointer, this.keys, this.now(), this.opts.rotationMs)) {
      const { publicKey, privateKey } = await generateKeyPair(ALG, { extractable: true });
      const kid = randomBytes(9).toString('base64url');
      const rec: KeyRecord = {
        kid,
        alg: ALG,
        privateJwk: JSON.stringify({ ...(await exportJWK(privateKey)), kid, alg: ALG }),
        publicJwk: JSON.stringify({ ...(await exportJWK(publicKey)), kid, alg: ALG, use: 'sig' }),
        createdAt: this.now(),
      };
      await this.store.insert(rec);
      const won = await this.store.swapPointer(this.pointer, { kid, previousKid: this.pointer?.kid, rotatedAt: this.now() });
      // Whoever won, read the ring again: every replica signs with the same current key.
      this.keys = await this.store.list();
      this.pointer = await this.store.pointer();
      void won;
    }
    const cur = this.pointer ? this.keys.get(this.pointer.kid) : undefined;
    if (!cur) throw new Error('no current signing key');
    if (this.signer?.kid !== cur.kid) this.signer = { kid: cur.kid, key: await importJWK(JSON.parse(cur.privateJwk), ALG) };
  }

  get currentKid(): string | undefined {
    return this.signer?.kid;
  }

  async signAccess(userId: string, deviceId: string): Promise<{ token: string; expiresIn: number }> {
    if (!this.signer) await this.refresh();
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

  published(): { kid: string; alg: string; publicJwk: string; notAfter: number }[] {
    return publishedKeys(this.keys, this.pointer, this.now(), this.opts.rotationMs, this.opts.accessTtlSeconds * 1000).map(({ key, notAfter }) => ({
      kid: key.kid,
      alg: key.alg,
      publicJwk: key.publicJwk,
      notAfter,
    }));
  }
}
