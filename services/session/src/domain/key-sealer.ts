// Private signing keys at rest: sealed with AES-256-GCM under a key derived from SESSION_SIGNING_KEY_SECRET,
// so a copy of the Cassandra table alone cannot mint tokens. Without a secret (local development) keys are
// stored as plain JWK text; they are never returned by any RPC either way.
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

const PREFIX = 'enc1:';

export class KeySealer {
  private readonly key: Buffer | undefined;

  constructor(secret: string | undefined) {
    this.key = secret ? Buffer.from(hkdfSync('sha256', secret, 'parley-session', 'signing-key-sealing-v1', 32)) : undefined;
  }

  get sealing(): boolean {
    return this.key !== undefined;
  }

  seal(plain: string): string {
    if (!this.key) return plain;
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', this.key, iv);
    const ct = Buffer.concat([c.update(plain, 'utf8'), c.final()]);
    return `${PREFIX}${iv.toString('base64url')}.${c.getAuthTag().toString('base64url')}.${ct.toString('base64url')}`;
  }

  /** Opens a sealed key; plain JWK text (written before a secret was configured) is accepted as is. */
  open(stored: string): string {
    if (!stored.startsWith(PREFIX)) return stored;
    if (!this.key) throw new Error('signing key is sealed but SESSION_SIGNING_KEY_SECRET is not set');
    const [iv, tag, ct] = stored.slice(PREFIX.length).split('.');
    if (!iv || !tag || ct === undefined) throw new Error('malformed sealed signing key');
    const d = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64url'));
    d.setAuthTag(Buffer.from(tag, 'base64url'));
    try {
      return Buffer.concat([d.update(Buffer.from(ct, 'base64url')), d.final()]).toString('utf8');
    } catch {
      throw new Error('signing key cannot be opened: SESSION_SIGNING_KEY_SECRET differs from the one that sealed it');
    }
  }
}
