// Verifies access tokens locally with the public keys of SessionService.GetSigningKeys. The key set is
// re-read periodically and at once on an unknown kid (throttled), so a key rotation never logs anyone out.
import { decodeProtectedHeader, importJWK, jwtVerify, errors as joseErrors, type JWK, type KeyLike } from 'jose';
import { errors, type Client, type Logger } from '@parley/kit';
import type { sessionV1 } from '@parley/proto';

export interface TokenClaims {
  userId: string;
  deviceId: string;
  /** Expiry, ms since the epoch. */
  expMs: number;
}

interface LoadedKey {
  key: KeyLike | Uint8Array;
  alg: string;
  /** 0 = current key; otherwise tokens signed by it stop being valid at this time (ms). */
  notAfter: number;
}

const UNKNOWN_KID_REFRESH_MIN_MS = 1000;

export class TokenVerifier {
  private keys = new Map<string, LoadedKey>();
  private issuer = '';
  private audience = '';
  private loadedAt = 0;
  private loading: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly session: Pick<Client<typeof sessionV1.SessionService>, 'getSigningKeys'>,
    private readonly logger: Logger,
    private readonly refreshMs: number,
  ) {}

  get loaded(): boolean {
    return this.loadedAt > 0 && this.keys.size > 0;
  }

  /** Reads the key set now (concurrent callers share one call). */
  refresh(): Promise<void> {
    this.loading ??= (async () => {
      try {
        const res = await this.session.getSigningKeys({}, { deadlineMs: 3000 });
        const next = new Map<string, LoadedKey>();
        for (const k of res.keys) {
          try {
            const jwk = JSON.parse(k.publicJwkJson) as JWK;
            const key = await importJWK(jwk, k.alg);
            next.set(k.kid, { key, alg: k.alg, notAfter: Number(k.notAfter) });
          } catch (err) {
            this.logger.warn({ err, kid: k.kid }, 'unusable signing key skipped');
          }
        }
        if (next.size === 0) throw new Error('session published no signing keys');
        // Issuer and audience are always checked: a key set without them is refused, never "accept any".
        if (!res.issuer || !res.audience) throw new Error('session published no issuer or audience');
        this.keys = next;
        this.issuer = res.issuer;
        this.audience = res.audience;
        this.loadedAt = Date.now();
      } finally {
        this.loading = undefined;
      }
    })();
    return this.loading;
  }

  start(): void {
    this.timer = setInterval(() => {
      this.refresh().catch((err: unknown) => this.logger.warn({ err }, 'signing key refresh failed'));
    }, this.refreshMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** Verifies signature, issuer, audience, expiry and the key's validity window; throws `unauthorized`. */
  async verify(token: string): Promise<TokenClaims> {
    let kid: string | undefined;
    try {
      kid = decodeProtectedHeader(token).kid;
    } catch {
      throw errors.unauthorized('malformed access token');
    }
    if (!kid) throw errors.unauthorized('malformed access token');
    let k = this.keys.get(kid);
    if (!k && Date.now() - this.loadedAt >= UNKNOWN_KID_REFRESH_MIN_MS) {
      try {
        await this.refresh();
      } catch (err) {
        this.logger.warn({ err }, 'signing key refresh on unknown kid failed');
        if (!this.loaded) throw errors.unavailable('token verification keys are not available, retry');
      }
      k = this.keys.get(kid);
    }
    if (!k) throw errors.unauthorized('invalid access token');
    if (k.notAfter > 0 && Date.now() >= k.notAfter) throw errors.unauthorized('access token signed by a retired key');
    try {
      const { payload } = await jwtVerify(token, k.key, {
        algorithms: [k.alg],
        issuer: this.issuer,
        audience: this.audience,
      });
      const did = payload['did'];
      if (typeof payload.sub !== 'string' || !payload.sub || typeof did !== 'string' || !did || typeof payload.exp !== 'number') {
        throw errors.unauthorized('invalid access token');
      }
      return { userId: payload.sub, deviceId: did, expMs: payload.exp * 1000 };
    } catch (err) {
      if (err instanceof joseErrors.JWTExpired) throw errors.unauthorized('access token expired');
      if (err instanceof Error && err.name === 'ParleyError') throw err;
      throw errors.unauthorized('invalid access token');
    }
  }
}

/** The subprotocol every browser client offers, and the one the server selects (never the token one). */
export const WS_PROTOCOL = 'parley.v1';
/** Prefix of the subprotocol that carries the access token (`Sec-WebSocket-Protocol: parley.v1, parley.bearer.<token>`). */
export const WS_TOKEN_PROTOCOL_PREFIX = 'parley.bearer.';

/** The access token carried in Sec-WebSocket-Protocol, or undefined. */
export function subprotocolToken(header: string | string[] | undefined): string | undefined {
  if (!header) return undefined;
  for (const p of (Array.isArray(header) ? header.join(',') : header).split(',')) {
    const v = p.trim();
    if (v.startsWith(WS_TOKEN_PROTOCOL_PREFIX) && v.length > WS_TOKEN_PROTOCOL_PREFIX.length) return v.slice(WS_TOKEN_PROTOCOL_PREFIX.length);
  }
  return undefined;
}

/** The bearer token of an Authorization header, or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m?.[1];
}
