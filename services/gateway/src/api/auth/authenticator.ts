// Authentication of an HTTP request: a locally verified JWT, then SessionService.CheckDevice (not cached: a
// removal through any gateway takes effect at once). A WebSocket upgrade verifies the JWT here and lets its
// connection's registration (RegisterConnections, before the 101) check the device: one call, not two.
import { errors, type Client } from '@parley/kit';
import type { sessionV1 } from '@parley/proto';
import type { TokenClaims, TokenVerifier } from './token-verifier.js';

export type AuthContext = TokenClaims;

export class Authenticator {
  constructor(
    private readonly verifier: TokenVerifier,
    private readonly session: Pick<Client<typeof sessionV1.SessionService>, 'checkDevice'>,
  ) {}

  /** The token's claims (signature, issuer, audience, expiry); the device is not checked. */
  async verify(token: string | undefined): Promise<AuthContext> {
    if (!token) throw errors.unauthorized('missing access token');
    if (token.length > 8192) throw errors.unauthorized('malformed access token');
    return this.verifier.verify(token);
  }

  async authenticate(token: string | undefined): Promise<AuthContext> {
    const claims = await this.verify(token);
    const res = await this.session.checkDevice({ userId: claims.userId, deviceId: claims.deviceId }, { deadlineMs: 3000 });
    if (!res.active) throw errors.unauthorized('device was removed');
    return claims;
  }
}
